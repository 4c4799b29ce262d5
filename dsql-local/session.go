package main

import (
	"bufio"
	"log"
	"math/rand/v2"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Messages DSQL uses for optimistic-concurrency failures (SQLSTATE 40001).
const (
	msgOC000 = "change conflicts with another transaction, please retry: (OC000)"
	msgOC001 = "schema has been updated by another transaction, please retry: (OC001)"
)

func ocRefusal(code string) *refusal {
	if code == "OC001" {
		return &refusal{Code: "40001", Message: msgOC001}
	}
	return &refusal{Code: "40001", Message: msgOC000}
}

var reMarker = regexp.MustCompile(`dsql_local_refusal_[0-9]+`)

type portal struct {
	info *stmtInfo
}

// session relays one client connection to its own PostgreSQL backend connection, applying
// DSQL's rules on the way.
//
// Refusals are made by PostgreSQL itself: the proxy replaces the refused statement with a
// unique identifier ("dsql_local_refusal_N"), which PostgreSQL rejects as a syntax error; the
// proxy rewrites that error into DSQL's SQLSTATE and message. This keeps PostgreSQL's
// transaction state (aborted transaction, extended-protocol error recovery) exactly right.
type session struct {
	srv         *server
	id          uint64
	user        string
	principal   string
	connectedAt time.Time
	client      net.Conn
	backend     net.Conn
	cr          *bufio.Reader
	cw          *bufio.Writer
	br          *bufio.Reader
	bw          *bufio.Writer
	backendPID  uint32
	backendKey  []byte

	cmu sync.Mutex // serialises writes to the client

	mu             sync.Mutex
	txStatus       byte
	txDDL, txDML   int
	txStmts        int
	txStart        time.Time
	txStartVersion uint64
	seenVersion    uint64
	markers        map[string]*refusal
	commitFail     *refusal
	cycleErr       bool
	pendingDDL     bool
	lastTag        string
	stmts          map[string]*stmtInfo
	portals        map[string]*portal
	closed         bool
	swallow        int // ParseComplete/BindComplete answers to our own messages, to drop
	closeReason    string

	// bmu serialises writes to the backend (the client relay and the OCC monitor's injected
	// ROLLBACK).
	bmu sync.Mutex
	// pending counts sync points (Query, Sync, injected ROLLBACK) whose ReadyForQuery has not
	// arrived; busySince is when it last went from 0 to 1.
	pending   int
	busySince time.Time
	// extOpen: extended-protocol messages were sent since the last Sync.
	extOpen bool
	// committing: a COMMIT (or an autocommit write) is in flight; such a transaction is never
	// wounded (occ.go).
	committing bool
	// doomed: the open transaction lost a conflict (occ.go); doomReported once the client was
	// told. rollbackPending: the backend transaction still has to be rolled back; injected: the
	// answers of our injected ROLLBACK are in flight and are swallowed. cancelledByOCC: the
	// running statement was cancelled because the transaction lost.
	doomed          *refusal
	doomReported    bool
	rollbackPending bool
	injected        bool
	cancelledByOCC  bool
	// Accounting and latency (accounting.go, latency.go).
	stats      *roleCounters
	rtOpen     bool // the client received a ReadyForQuery since its last counted round trip
	rtDelayDue bool // the next ReadyForQuery to the client carries the round-trip latency
	cycleStmts int  // statements sent since the last ReadyForQuery
	clientTx   byte // transaction status as last reported to the client
}

func (s *session) newMarker(r *refusal, sql string) string {
	if s.srv.cfg.logRefusals {
		log.Printf("session %d (%s): %s %s: %s", s.id, s.user, r.Code, r.Message, oneLine(sql, 300))
	}
	m := "dsql_local_refusal_" + strconv.FormatUint(s.srv.nextMarker(), 10)
	s.markers[m] = r
	return m
}

// run relays until either side closes.
func (s *session) run() {
	done := make(chan struct{}, 2)
	go func() { s.clientLoop(); done <- struct{}{} }()
	go func() { s.backendLoop(); done <- struct{}{} }()
	<-done
	s.close("")
	<-done
}

// close ends the session; reason, when set, is sent to the client as a FATAL error first.
func (s *session) close(reason string) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	if reason != "" {
		// Set the deadline before taking cmu: a relay blocked writing to a client that does not
		// read must give up the lock.
		_ = s.client.SetWriteDeadline(time.Now().Add(time.Second))
		s.cmu.Lock()
		_ = writeMsg(s.cw, errorResponse("FATAL", "57P01", reason, ""))
		_ = s.cw.Flush()
		s.cmu.Unlock()
	}
	_ = s.client.Close()
	// A query still running for a client that went away is cancelled (PostgreSQL would only
	// notice the closed socket when it next writes).
	s.mu.Lock()
	busy := s.pending > 0
	s.mu.Unlock()
	if busy {
		s.srv.cancelBackend(s.backendPID, s.backendKey)
	}
	_ = s.backend.Close()
}

func (s *session) forward(m rawMsg) error { return writeRaw(s.bw, m) }

func (s *session) forwardQuery(q string) error {
	return writeMsg(s.bw, &pgproto3.Query{String: q})
}

func (s *session) clientLoop() {
	for {
		m, err := readMsg(s.cr)
		if err != nil {
			return
		}
		s.bmu.Lock()
		err = s.handleClient(m)
		if err == nil && (m.typ == 'X' || s.cr.Buffered() == 0) {
			err = s.bw.Flush()
		}
		s.bmu.Unlock()
		if err != nil || m.typ == 'X' {
			return
		}
	}
}

// handleClient relays one client message. Callers hold s.bmu.
func (s *session) handleClient(m rawMsg) error {
	s.mu.Lock()
	switch m.typ {
	case 'Q', 'S':
		if s.pending == 0 {
			s.busySince = time.Now()
		}
		s.pending++
		s.stats.syncs.Add(1)
		if s.rtOpen {
			s.rtOpen = false
			s.rtDelayDue = true
			s.stats.roundTrips.Add(1)
		}
		if m.typ == 'S' {
			s.extOpen = false
		}
	case 'P', 'B', 'D', 'E', 'C', 'H':
		s.extOpen = true
	}
	s.mu.Unlock()
	switch m.typ {
	case 'Q':
		var q pgproto3.Query
		if err := q.Decode(m.body); err != nil {
			return s.forward(m)
		}
		return s.handleQuery(m, q.String)
	case 'P':
		var p pgproto3.Parse
		if err := p.Decode(m.body); err != nil {
			return s.forward(m)
		}
		info := s.srv.classify(p.Query)
		s.mu.Lock()
		s.stmts[p.Name] = info
		var replaced string
		if info.Refusal != nil {
			replaced = s.newMarker(info.Refusal, p.Query)
		} else if info.Rewrite != "" {
			replaced = info.Rewrite
		}
		s.mu.Unlock()
		if replaced != "" {
			return writeMsg(s.bw, &pgproto3.Parse{Name: p.Name, Query: replaced})
		}
		return s.forward(m)
	case 'B':
		var b pgproto3.Bind
		if err := b.Decode(m.body); err == nil {
			s.mu.Lock()
			s.portals[b.DestinationPortal] = &portal{info: s.stmts[b.PreparedStatement]}
			s.mu.Unlock()
		}
		return s.forward(m)
	case 'E':
		var e pgproto3.Execute
		if err := e.Decode(m.body); err != nil {
			return s.forward(m)
		}
		return s.handleExecute(m, e.Portal)
	case 'C':
		var c pgproto3.Close
		if err := c.Decode(m.body); err == nil {
			s.mu.Lock()
			if c.ObjectType == 'S' {
				delete(s.stmts, c.Name)
			} else {
				delete(s.portals, c.Name)
			}
			s.mu.Unlock()
		}
		return s.forward(m)
	default:
		return s.forward(m)
	}
}

// txCheck applies the transaction rules that depend on session state to one statement about to
// run. Callers hold s.mu. counts are the running DDL/DML/statement counts of the transaction.
func (s *session) txCheck(info *stmtInfo, inBlock, multi bool, ddl, dml, stmts *int) *refusal {
	srv := s.srv
	if inBlock && srv.cfg.txMaxAge > 0 && info.Tx != txRollback && info.Tx != txCommit && time.Since(s.txStart) > srv.cfg.txMaxAge {
		return refuse("54000", "transaction age limit of %ds exceeded", int(srv.cfg.txMaxAge.Seconds()))
	}
	if info.WaitForJob && (inBlock || multi) {
		return refuse("25001", "sys.wait_for_job cannot be called inside a transaction block")
	}
	if info.Tx == txBegin && inBlock {
		return nil // PostgreSQL answers with its own warning
	}
	if !info.Neutral {
		if *stmts == 0 {
			global := srv.schemaVersion.Load()
			if srv.cfg.staleSchemaOC001 && s.seenVersion < global {
				s.seenVersion = global
				return ocRefusal("OC001")
			}
			s.txStartVersion = global
		}
		if code := srv.faults.matchStatement(info.Text); code != "" {
			return ocRefusal(code)
		}
		*stmts++
	}
	switch info.Kind {
	case kindDDL:
		if *ddl > 0 {
			return unsupported("multiple ddl statements not supported in a transaction")
		}
		if *dml > 0 {
			return unsupported("ddl and dml are not supported in the same transaction")
		}
		*ddl++
		s.pendingDDL = true
	case kindDML:
		if *ddl > 0 {
			return unsupported("ddl and dml are not supported in the same transaction")
		}
		*dml++
	}
	return nil
}

// commitCheck decides whether a COMMIT of the current transaction fails (OC001 after a schema
// change by another session, or an injected fault). Callers hold s.mu.
func (s *session) commitCheck() *refusal {
	if s.txStatus != 'T' || s.txStmts == 0 {
		return nil
	}
	if global := s.srv.schemaVersion.Load(); global > s.txStartVersion && s.txDDL == 0 {
		s.seenVersion = global
		return ocRefusal("OC001")
	}
	if code := s.srv.faults.failCommit(); code != "" {
		return ocRefusal(code)
	}
	return nil
}

func (s *session) handleQuery(m rawMsg, sql string) error {
	infos := s.srv.classifyQuery(sql)
	s.mu.Lock()
	if n := len(infos); n > 0 {
		s.cycleStmts += n
		s.stats.statements.Add(int64(n))
	} else {
		s.cycleStmts++
		s.stats.statements.Add(1)
	}
	if s.doomed != nil {
		var tx txAction
		if len(infos) == 1 {
			tx = infos[0].Tx
		}
		return s.doomedStatement(tx, sql, func(marker string) error { return s.forwardQuery(marker) },
			func() error { return s.forwardQuery("ROLLBACK") }, func() error { return s.forward(m) })
	}
	if len(infos) == 0 {
		s.mu.Unlock()
		return s.forward(m)
	}
	inBlock := s.txStatus == 'T' || s.txStatus == 'E'
	if !inBlock {
		s.txStart = time.Now()
		s.txDDL, s.txDML, s.txStmts = 0, 0, 0
	}
	// A lone COMMIT may be turned into a failed commit.
	if len(infos) == 1 && infos[0].Tx == txCommit {
		if r := s.commitCheck(); r != nil {
			s.commitFail = r
			s.mu.Unlock()
			return s.forwardQuery("ROLLBACK")
		}
	}
	ddl, dml, n := s.txDDL, s.txDML, s.txStmts
	var ref *refusal
	rewritten := false
	for _, info := range infos {
		if info.Refusal != nil {
			ref = info.Refusal
			break
		}
		if r := s.txCheck(info, inBlock, len(infos) > 1, &ddl, &dml, &n); r != nil {
			ref = r
			break
		}
		switch info.Tx {
		case txBegin:
			inBlock = true
			ddl, dml, n = 0, 0, 0
		case txCommit, txRollback:
			inBlock = false
			ddl, dml, n = 0, 0, 0
		}
		if info.Rewrite != "" {
			rewritten = true
		}
	}
	s.txDDL, s.txDML, s.txStmts = ddl, dml, n
	if ref != nil {
		marker := s.newMarker(ref, sql)
		s.mu.Unlock()
		return s.forwardQuery(marker)
	}
	commits := s.commitsIn(infos, s.txStatus == 'T' || s.txStatus == 'E')
	s.committing = commits
	s.mu.Unlock()
	if commits {
		s.srv.latency.sleepCommit()
	}
	if rewritten {
		texts := make([]string, len(infos))
		for i, info := range infos {
			texts[i] = info.Text
			if info.Rewrite != "" {
				texts[i] = info.Rewrite
			}
		}
		return s.forwardQuery(strings.Join(texts, ";\n"))
	}
	return s.forward(m)
}

func (s *session) handleExecute(m rawMsg, portalName string) error {
	s.mu.Lock()
	s.cycleStmts++
	s.stats.statements.Add(1)
	p := s.portals[portalName]
	if s.doomed != nil {
		var tx txAction
		text := ""
		if p != nil && p.info != nil {
			tx, text = p.info.Tx, p.info.Text
		}
		return s.doomedStatement(tx, text,
			func(marker string) error { return writeMsg(s.bw, &pgproto3.Parse{Query: marker}) },
			s.executeRollbackInstead, func() error { return s.forward(m) })
	}
	if p == nil || p.info == nil || p.info.Refusal != nil {
		s.mu.Unlock()
		return s.forward(m)
	}
	info := p.info
	if info.Tx == txCommit {
		if r := s.commitCheck(); r != nil {
			s.commitFail = r
			s.mu.Unlock()
			return s.executeRollbackInstead()
		}
	}
	inBlock := s.txStatus == 'T' || s.txStatus == 'E'
	if !inBlock && s.txStmts == 0 {
		s.txStart = time.Now()
	}
	ddl, dml, n := s.txDDL, s.txDML, s.txStmts
	r := s.txCheck(info, inBlock, false, &ddl, &dml, &n)
	s.txDDL, s.txDML, s.txStmts = ddl, dml, n
	if r != nil {
		marker := s.newMarker(r, info.Text)
		s.mu.Unlock()
		return writeMsg(s.bw, &pgproto3.Parse{Query: marker})
	}
	commits := s.commitsIn([]*stmtInfo{info}, inBlock)
	s.committing = commits
	s.mu.Unlock()
	if commits {
		s.srv.latency.sleepCommit()
	}
	return s.forward(m)
}

// executeRollbackInstead sends ROLLBACK in place of an extended-protocol COMMIT, through an
// unnamed statement whose ParseComplete and BindComplete the client must not see; the
// ROLLBACK's CommandComplete becomes s.commitFail when one is set.
func (s *session) executeRollbackInstead() error {
	s.mu.Lock()
	s.swallow += 2
	s.mu.Unlock()
	if err := writeMsg(s.bw, &pgproto3.Parse{Query: "ROLLBACK"}); err != nil {
		return err
	}
	if err := writeMsg(s.bw, &pgproto3.Bind{}); err != nil {
		return err
	}
	return writeMsg(s.bw, &pgproto3.Execute{})
}

// commitsIn reports whether running infos commits a transaction that may have written: an
// explicit COMMIT, or a write outside a transaction block (autocommit). Callers hold s.mu.
func (s *session) commitsIn(infos []*stmtInfo, inBlock bool) bool {
	for _, info := range infos {
		switch {
		case info.Tx == txCommit:
			return true
		case info.Tx == txBegin:
			inBlock = true
		case info.Tx == txRollback:
			inBlock = false
		case info.Kind == kindDML && !inBlock:
			return true
		}
	}
	return false
}

// doomedStatement answers a statement of a transaction that lost a conflict (occ.go). COMMIT
// becomes ROLLBACK and fails with 40001 OC000 unless the client was already told; ROLLBACK ends
// the transaction; anything else is refused (40001 OC000 the first time, then 25P02). Callers
// hold s.mu; it is released here.
func (s *session) doomedStatement(tx txAction, text string, refuseWith func(marker string) error,
	rollbackInstead func() error, forward func() error) error {
	switch tx {
	case txRollback:
		s.endDoom()
		s.mu.Unlock()
		return forward()
	case txCommit:
		if !s.doomReported {
			s.commitFail = s.doomed
		}
		s.endDoom()
		s.mu.Unlock()
		return rollbackInstead()
	}
	r := s.doomed
	if s.doomReported {
		r = &refusal{Code: "25P02", Message: "current transaction is aborted, commands ignored until end of transaction block"}
	}
	s.doomReported = true
	marker := s.newMarker(r, text)
	s.mu.Unlock()
	return refuseWith(marker)
}

// endDoom forgets a lost transaction once the client ends it; the backend transaction is then
// ended by the client's own ROLLBACK (or the ROLLBACK sent in place of its COMMIT). Callers
// hold s.mu.
func (s *session) endDoom() {
	s.doomed = nil
	s.doomReported = false
	s.rollbackPending = false
	s.cancelledByOCC = false
}

func (s *session) backendLoop() {
	for {
		m, err := readMsg(s.br)
		if err != nil {
			return
		}
		out, err := s.handleBackend(m)
		if err != nil {
			return
		}
		if m.typ == 'Z' && out != dropMsg {
			s.mu.Lock()
			due := s.rtDelayDue && s.pending == 0
			if due {
				s.rtDelayDue = false
			}
			s.mu.Unlock()
			if due {
				s.srv.latency.sleepRoundTrip()
			}
		}
		s.cmu.Lock()
		if out == dropMsg {
			if s.br.Buffered() == 0 {
				err = s.cw.Flush()
			}
		} else if out != nil {
			err = writeMsg(s.cw, out)
		} else {
			err = writeRaw(s.cw, m)
		}
		if err == nil && s.br.Buffered() == 0 {
			err = s.cw.Flush()
		}
		s.cmu.Unlock()
		if err != nil {
			return
		}
	}
}

// dropMsg, returned by handleBackend, means: do not pass the message on.
var dropMsg encoder = &pgproto3.NoData{}

// handleBackend inspects one message from PostgreSQL; a non-nil result replaces it.
func (s *session) handleBackend(m rawMsg) (encoder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.injected {
		// Answers to the ROLLBACK the OCC monitor injected (occ.go): the client never sees them.
		if m.typ == 'Z' && len(m.body) == 1 {
			s.injected = false
			s.pending--
			s.txStatus = m.body[0]
			s.txDDL, s.txDML, s.txStmts = 0, 0, 0
			s.pendingDDL = false
		}
		return dropMsg, nil
	}
	switch m.typ {
	case '1', '2': // ParseComplete, BindComplete
		if s.swallow > 0 {
			s.swallow--
			return dropMsg, nil
		}
		return nil, nil
	case 'E':
		var e pgproto3.ErrorResponse
		if err := e.Decode(m.body); err != nil {
			return nil, nil
		}
		s.cycleErr = true
		s.swallow = 0 // PostgreSQL skips the rest of the batch, our own messages included
		if mk := reMarker.FindString(e.Message); mk != "" {
			if r, ok := s.markers[mk]; ok {
				delete(s.markers, mk)
				s.countError(r.Code, r.Message)
				return errorResponse("ERROR", r.Code, r.Message, r.Detail), nil
			}
		}
		if e.Code == "57014" && s.cancelledByOCC {
			// The statement was cancelled because its transaction lost a conflict (occ.go).
			s.cancelledByOCC = false
			s.doomReported = true
			s.countError("40001", msgOC000)
			return errorResponse("ERROR", "40001", msgOC000, "dsql-local: another transaction wrote a row this transaction holds"), nil
		}
		switch e.Code {
		case "40001", "40P01":
			s.countError("40001", msgOC000)
			return errorResponse("ERROR", "40001", msgOC000, "dsql-local: PostgreSQL reported: "+e.Message), nil
		}
		s.countError(e.Code, e.Message)
		return nil, nil
	case 'C':
		var c pgproto3.CommandComplete
		if err := c.Decode(m.body); err != nil {
			return nil, nil
		}
		tag := string(c.CommandTag)
		s.lastTag = tag
		if s.commitFail != nil && tag == "ROLLBACK" {
			r := s.commitFail
			s.commitFail = nil
			s.cycleErr = true
			s.countError(r.Code, r.Message)
			return errorResponse("ERROR", r.Code, r.Message, r.Detail), nil
		}
		return nil, nil
	case 'Z':
		if len(m.body) != 1 {
			return nil, nil
		}
		st := m.body[0]
		s.swallow = 0
		if st == 'I' {
			if s.pendingDDL && !s.cycleErr && s.lastTag != "ROLLBACK" {
				s.seenVersion = s.srv.schemaVersion.Add(1)
			}
			s.txDDL, s.txDML, s.txStmts = 0, 0, 0
			s.pendingDDL = false
			s.commitFail = nil
		}
		s.txStatus = st
		if s.pending > 0 {
			s.pending--
		}
		s.committing = false
		// What the client sees: a lost transaction stays open ('T') until the client is told,
		// then failed ('E'), until the client ends it.
		if s.doomed != nil && st == 'I' && s.clientTx == 'I' && s.pending == 0 {
			// The statement that lost ran outside a transaction block: it was the whole
			// transaction, its client has been told (40001), and nothing is left to roll back.
			s.endDoom()
		}
		shown := st
		if s.doomed != nil {
			shown = 'T'
			if s.doomReported {
				shown = 'E'
			}
		}
		s.account(shown)
		s.clientTx = shown
		s.rtOpen = true
		s.cycleErr = false
		s.lastTag = ""
		s.cycleStmts = 0
		if shown != st {
			return &pgproto3.ReadyForQuery{TxStatus: shown}, nil
		}
		return nil, nil
	}
	return nil, nil
}

// describe is a one-line summary for the control API.
func (s *session) describe() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return map[string]any{"id": s.id, "user": s.user, "principal": s.principal,
		"connectedAt": s.connectedAt.UTC().Format(time.RFC3339Nano), "txStatus": string(s.txStatus)}
}

// randFloat is a seam for tests.
var randFloat = rand.Float64

// oneLine shortens sql for a log line.
func oneLine(sql string, max int) string {
	sql = strings.Join(strings.Fields(sql), " ")
	if len(sql) > max {
		return sql[:max] + "..."
	}
	return sql
}
