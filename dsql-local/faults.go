package main

import (
	"fmt"
	"regexp"
	"sync"
	"time"
)

// faults holds the failures tests inject through the control API.
type faults struct {
	mu            sync.Mutex
	nextID        int
	statements    []*statementFault
	commitFrac    float64
	commitCode    string
	refuseUntil   time.Time
	refuseMode    string // "reset" (close the TCP connection), "error" (FATAL 08006) or "rate" (FATAL 53400, DSQL's connection-rate refusal)
	indexFailures []*indexFault
}

type statementFault struct {
	ID        int    `json:"id"`
	Pattern   string `json:"pattern"`
	Code      string `json:"code"`
	Remaining int    `json:"remaining"` // 0 = unlimited
	re        *regexp.Regexp
}

type indexFault struct {
	ID      int    `json:"id"`
	Pattern string `json:"pattern"`
	Message string `json:"message"`
	re      *regexp.Regexp
}

func checkOCCode(code string) (string, error) {
	switch code {
	case "", "OC000":
		return "OC000", nil
	case "OC001":
		return "OC001", nil
	}
	return "", fmt.Errorf("code must be \"OC000\" or \"OC001\", got %q", code)
}

func (f *faults) addStatement(pattern, code string, times int) (*statementFault, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("pattern %q is not a valid regular expression: %v", pattern, err)
	}
	if code, err = checkOCCode(code); err != nil {
		return nil, err
	}
	if times < 0 {
		return nil, fmt.Errorf("times must be >= 0 (0 = unlimited), got %d", times)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	sf := &statementFault{ID: f.nextID, Pattern: pattern, Code: code, Remaining: times, re: re}
	f.statements = append(f.statements, sf)
	return sf, nil
}

// matchStatement returns the OC code a statement must fail with, or "".
func (f *faults) matchStatement(text string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, sf := range f.statements {
		if sf.re.MatchString(text) {
			if sf.Remaining > 0 {
				sf.Remaining--
				if sf.Remaining == 0 {
					f.statements = append(f.statements[:i:i], f.statements[i+1:]...)
				}
			}
			return sf.Code
		}
	}
	return ""
}

func (f *faults) setCommits(fraction float64, code string) error {
	if fraction < 0 || fraction > 1 {
		return fmt.Errorf("fraction must be between 0 and 1, got %v", fraction)
	}
	code, err := checkOCCode(code)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commitFrac, f.commitCode = fraction, code
	return nil
}

// failCommit returns the OC code a commit must fail with, or "".
func (f *faults) failCommit() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.commitFrac > 0 && randFloat() < f.commitFrac {
		return f.commitCode
	}
	return ""
}

func (f *faults) refuseConnections(d time.Duration, mode string) error {
	if mode == "" {
		mode = "reset"
	}
	if mode != "reset" && mode != "error" && mode != "rate" {
		return fmt.Errorf("mode must be \"reset\", \"error\" or \"rate\", got %q", mode)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refuseUntil, f.refuseMode = time.Now().Add(d), mode
	return nil
}

// refusing reports whether new connections are refused now, and how.
func (f *faults) refusing() (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return time.Now().Before(f.refuseUntil), f.refuseMode
}

func (f *faults) addIndexFailure(pattern, message string) (*indexFault, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("pattern %q is not a valid regular expression: %v", pattern, err)
	}
	if message == "" {
		message = "index build failed (injected by dsql-local)"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	fi := &indexFault{ID: f.nextID, Pattern: pattern, Message: message, re: re}
	f.indexFailures = append(f.indexFailures, fi)
	return fi, nil
}

// indexFailure returns the failure message for a build of index object ("schema.name"), or "".
func (f *faults) indexFailure(object string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fi := range f.indexFailures {
		if fi.re.MatchString(object) {
			return fi.Message
		}
	}
	return ""
}

func (f *faults) clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statements, f.indexFailures = nil, nil
	f.commitFrac, f.commitCode = 0, ""
	f.refuseUntil = time.Time{}
}

func (f *faults) snapshot() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return map[string]any{
		"statements":             append([]*statementFault{}, f.statements...),
		"commits":                map[string]any{"fraction": f.commitFrac, "code": f.commitCode},
		"refuseConnectionsUntil": f.refuseUntil.UTC().Format(time.RFC3339Nano),
		"indexBuildFailures":     append([]*indexFault{}, f.indexFailures...),
	}
}
