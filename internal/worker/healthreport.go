package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/promobot/promobot/internal/intent"
)

// HealthRecords keeps the latest report of each health check of a
// repository for the status page (the state bucket, internal/app).
type HealthRecords interface {
	// Record keeps the report of check (at check.At, GitHub's time) on
	// commit sha of repo, unless a later report of the same check is kept
	// already: kept says which. Redelivered webhooks arrive late.
	Record(ctx context.Context, repo, sha string, check intent.Check) (kept bool, err error)
}

// healthReport records one health report; it calls neither GitHub nor git
// and takes no lease (the record's revision orders concurrent writes). A
// write that fails is an error, so the queue tries again and the decision
// line says why.
func (w *Worker) healthReport(ctx context.Context, in intent.Intent) (Result, error) {
	res := Result{Intent: in}
	if in.Check == nil { // Validate refuses it; kept for safety
		return res, errors.New("health report without a check")
	}
	c := *in.Check
	if w.Health == nil {
		res.Outcome, res.Reason = Skipped, "health reports are not kept by this process"
		return res, nil
	}
	kept, err := w.Health.Record(ctx, in.Repo, in.Source.SHA, c)
	if err != nil {
		return res, fmt.Errorf("record health report %s: %w", c.Name, err)
	}
	at := c.At.UTC().Format(time.RFC3339)
	if !kept {
		res.Outcome, res.Reason = Skipped, fmt.Sprintf("health check %s: %s as of %s is older than the report kept", c.Name, c.State, at)
		return res, nil
	}
	res.Outcome, res.Reason = Recorded, fmt.Sprintf("health check %s: %s as of %s", c.Name, c.State, at)
	return res, nil
}
