// Package ui is promobot's read-only status page: which version of which
// service runs in which environment of every configured GitOps repository,
// since when, who put it there, what is waiting, and each service's
// timeline; the same data as JSON under /api/v1/. It reads a Source (the
// mirrors' git history and the state promobot keeps in NATS KV) and never
// calls GitHub on a request, except to learn, once per few minutes per
// signed-in user, which repositories that user may read.
package ui

import (
	"context"
	"time"
)

// Source is what the pages show, kept current by the workers and push
// events. Status lists every configured repository; Timeline is one
// service's tag changes, newest first (found is false when the repository
// has no such service). Access filtering and paging happen in this package.
type Source interface {
	Status(ctx context.Context) (Status, error)
	Timeline(ctx context.Context, repo, service string) (changes []Change, found bool, err error)
}

// Status is GET /api/v1/status.
type Status struct {
	// GeneratedAt is when the data was read.
	GeneratedAt time.Time `json:"generatedAt"`
	// Repositories are the configured GitOps repositories the caller may read.
	Repositories []Repository `json:"repositories"`
}

// Repository is one GitOps repository's service × environment matrix.
type Repository struct {
	// Repo is owner/name.
	Repo string `json:"repo"`
	// URL is the repository on GitHub.
	URL string `json:"url,omitempty"`
	// Environments are the environments in promotion order.
	Environments []string  `json:"environments"`
	Services     []Service `json:"services"`
	// Head is the base branch commit the matrix shows ("" before the
	// repository's first fetch).
	Head string `json:"head,omitempty"`
	// Updating is true while a newer head (or changed rules) is being
	// read: the matrix shown is Head's, a moment old.
	Updating bool `json:"updating,omitempty"`
	// Error says why the repository cannot be shown, such as its own
	// configuration file not loading.
	Error string `json:"error,omitempty"`
}

// Service is one service across the environments of its repository.
type Service struct {
	Name string `json:"name"`
	// Cells has one entry per environment the service is deployed to,
	// in the repository's environment order.
	Cells []Cell `json:"environments"`
}

// Cell is one service in one environment.
type Cell struct {
	Env string `json:"env"`
	// Tag is the image tag the environment runs; Digest is set when pinned.
	Tag    string `json:"tag,omitempty"`
	Digest string `json:"digest,omitempty"`
	// Since is when the environment's file last changed to this tag.
	Since time.Time `json:"since,omitzero"`
	// Commit is that change's commit.
	Commit string `json:"commit,omitempty"`
	// PromotedBy is who asked for it (ChatOps requester or build), or the
	// commit's author for a hand edit.
	PromotedBy string `json:"promotedBy,omitempty"`
	// PR is the promotion pull request it came through (0: none).
	PR    int    `json:"pr,omitempty"`
	PRURL string `json:"prUrl,omitempty"`
	// Health is the environment's health state where its health checks
	// are configured ("" when not): "healthy" (every check reported
	// success for what runs now), "unhealthy" (one reported failure or
	// error), "progressing" (one is pending, or has not reported since the
	// tag arrived), "unknown" (one never reported). The worst check
	// decides: unhealthy, then progressing, then unknown, then healthy.
	Health string `json:"health,omitempty"`
	// HealthChecks are the checks behind Health, in the rules' order.
	HealthChecks []HealthCheck `json:"healthChecks,omitempty"`
	// OpenPRs are promotion PRs into this environment not merged yet.
	OpenPRs []PRRef `json:"openPrs,omitempty"`
	// Waiting are promotions a gate holds back.
	Waiting []Wait `json:"waiting,omitempty"`
	// Failed are promotions into this environment that promobot gave up
	// on (a failure that will not go away, or too many attempts); each
	// stays until the next promotion of the service here is recorded.
	Failed []Failure `json:"failed,omitempty"`
	// Drift are the drift flags raised on this environment.
	Drift []Drift `json:"drift,omitempty"`
	// Error says why the tag could not be read.
	Error string `json:"error,omitempty"`
}

// HealthCheck is one health check of a cell: its latest report, as a
// commit status or check run on the GitOps repository's base branch.
type HealthCheck struct {
	// Name is the status context or check run name.
	Name string `json:"name"`
	// State is this check's share of the cell's Health: healthy,
	// unhealthy, progressing (pending, or reported before the tag
	// arrived) or unknown (never reported).
	State string `json:"state"`
	// Reported is the state GitHub reported: success, failure, error or
	// pending ("" when none).
	Reported string `json:"reported,omitempty"`
	// URL is the report's link (a status's target URL, a check run's page).
	URL string `json:"url,omitempty"`
	// At is GitHub's time of the report.
	At time.Time `json:"at,omitzero"`
}

// PRRef is an open promotion pull request.
type PRRef struct {
	Number int    `json:"number"`
	URL    string `json:"url"`
	Tag    string `json:"tag,omitempty"`
}

// Wait is a promotion a closed gate holds back.
type Wait struct {
	Tag string `json:"tag,omitempty"`
	// Gate names the closed gate; Reason says why it is closed.
	Gate   string `json:"gate,omitempty"`
	Reason string `json:"reason"`
	// OpensAt is when the gate opens with time (zero: when something
	// else changes, such as an approval).
	OpensAt time.Time `json:"opensAt,omitzero"`
	// Since is when promobot last found the gate closed.
	Since time.Time `json:"since,omitzero"`
}

// Failure is a promotion promobot gave up on and will not retry.
type Failure struct {
	Tag string `json:"tag,omitempty"`
	// Reason is why it was given up.
	Reason string `json:"reason"`
	// At is when it was given up.
	At time.Time `json:"at"`
}

// Drift is one drift flag.
type Drift struct {
	// Kind is skipped-promotion, hand-edit, lag or image-mismatch.
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// Change is one tag change of a service in an environment.
type Change struct {
	Time   time.Time `json:"time"`
	Env    string    `json:"env"`
	Commit string    `json:"commit"`
	From   string    `json:"from,omitempty"`
	To     string    `json:"to"`
	// How is "pr" (a promobot PR), "direct" (a direct commit by
	// promobot) or "hand-edit".
	How       string `json:"how,omitempty"`
	PR        int    `json:"pr,omitempty"`
	PRURL     string `json:"prUrl,omitempty"`
	Requester string `json:"requester,omitempty"`
	Ticket    string `json:"ticket,omitempty"`
	TicketURL string `json:"ticketUrl,omitempty"`
}

// Timeline is GET /api/v1/repos/{owner}/{repo}/services/{service}.
type Timeline struct {
	Repo    string `json:"repo"`
	Service string `json:"service"`
	// Current is the service's row of the status matrix.
	Current []Cell `json:"environments"`
	// Changes are this page's changes, newest first.
	Changes []Change `json:"changes"`
	// Page is 1-based; NextPage is 0 on the last page.
	Page     int `json:"page"`
	PerPage  int `json:"perPage"`
	Total    int `json:"total"`
	NextPage int `json:"nextPage,omitempty"`
}
