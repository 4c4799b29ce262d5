package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// RoleStats are dsql-local's counters for one database role (GET /stats; dsql-local README,
// "Accounting"). They only grow: compare two readings.
type RoleStats struct {
	RoundTrips       int64 `json:"roundTrips"`
	Syncs            int64 `json:"syncs"`
	Statements       int64 `json:"statements"`
	Transactions     int64 `json:"transactions"`
	Commits          int64 `json:"commits"`
	Rollbacks        int64 `json:"rollbacks"`
	Conflicts        int64 `json:"conflicts"`
	OCCWounds        int64 `json:"occWounds"`
	RowLimitRefusals int64 `json:"rowLimitRefusals"`
}

// Stats reads the counters of one database role (zero values if it never connected).
func (d *DSQLLocal) Stats(ctx context.Context, role string) (RoleStats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.ControlURL+"/stats", nil)
	if err != nil {
		return RoleStats{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return RoleStats{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return RoleStats{}, fmt.Errorf("dsql-local GET /stats: HTTP %d", resp.StatusCode)
	}
	var body struct {
		Roles map[string]RoleStats `json:"roles"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return RoleStats{}, fmt.Errorf("dsql-local GET /stats: %w", err)
	}
	return body.Roles[role], nil
}
