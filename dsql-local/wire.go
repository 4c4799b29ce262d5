package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgproto3"
)

// rawMsg is one protocol message after start-up: a type byte and its body.
type rawMsg struct {
	typ  byte
	body []byte
}

// readMsg reads one regular (typed) message. The body is freshly allocated.
func readMsg(r *bufio.Reader) (rawMsg, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return rawMsg{}, err
	}
	n := int(binary.BigEndian.Uint32(hdr[1:])) - 4
	if n < 0 || n > 1<<30 {
		return rawMsg{}, fmt.Errorf("invalid message length %d", n+4)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return rawMsg{}, err
	}
	return rawMsg{typ: hdr[0], body: body}, nil
}

func writeRaw(w *bufio.Writer, m rawMsg) error {
	var hdr [5]byte
	hdr[0] = m.typ
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(m.body)+4))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(m.body)
	return err
}

// encoder is any pgproto3 message.
type encoder interface {
	Encode(dst []byte) ([]byte, error)
}

func writeMsg(w *bufio.Writer, m encoder) error {
	b, err := m.Encode(nil)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func errorResponse(severity, code, message, detail string) *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{Severity: severity, SeverityUnlocalized: severity, Code: code, Message: message, Detail: detail}
}
