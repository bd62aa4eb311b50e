package planner

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/promobot/promobot/internal/edit"
	"github.com/promobot/promobot/internal/intent"
)

// Checks reads what CI and deployment tools (Argo CD Notifications, Flux's
// notification-controller) reported on commits of the base branch.
type Checks interface {
	// Run returns the base branch commits, newest first, of the unbroken
	// run ending at the head in which holds(content of path) is true: the
	// last one is the commit that brought the content. Empty when it does
	// not hold at the head. Long runs keep their newest commits and the
	// first.
	Run(ctx context.Context, path string, holds func([]byte) bool) ([]Commit, error)
	// Results returns the latest result of each named check on commit sha
	// (a commit status context or a check run name); a name nobody
	// reported on is left out.
	Results(ctx context.Context, sha string, names []string) ([]CheckResult, error)
}

// Commit is one base branch commit as the health gate reads it.
type Commit struct {
	SHA     string
	Message string // first line is enough: it names the PR a merge came from
	When    time.Time
}

// CheckResult is one check on one commit.
type CheckResult struct {
	Name string
	// State is success, failure, error or pending: a commit status's
	// state, or a check run's conclusion (pending while it runs; neutral,
	// skipped, cancelled, timed_out, action_required and stale count as
	// failure: they are not success).
	State string
	URL   string
}

// CheckFailure is a health check that failed, or checks that never
// succeeded before the timeout: the gate's reason names them, and the
// worker tells the people who brought the tag into the environment, on
// that PR or on that commit.
type CheckFailure struct {
	Check  string `json:"check"`
	URL    string `json:"url,omitempty"`
	Env    string `json:"env"`
	Commit string `json:"commit"`          // the commit that brought the tag into Env
	PR     int    `json:"pr,omitempty"`    // the PR that commit merged, when its message names one
	Tag    string `json:"tag"`             // service and tag, as shown
	OnSHA  string `json:"onSha,omitempty"` // the commit the failure was reported on
	// TimedOut is the health timeout when no check failed but some never
	// succeeded in time (Check then names them).
	TimedOut time.Duration `json:"timedOut,omitempty"`
}

// HealthRecheck is the shortest interval between the backstop looks at a
// promotion waiting for its health checks (events wake it at once). The
// interval is a healthRechecks-th of the timeout when that is longer, so a
// wait costs a bounded number of queue deliveries whatever the timeout
// (the queue dead-letters an intent after its delivery limit).
const HealthRecheck = 5 * time.Minute

const healthRechecks = 6

// healthCommits bounds how many commits of a run the gate asks about.
const healthCommits = 20

// healthGate is closed until each new tag is healthy in the environment it
// leaves: every check named by that environment's health is successful on
// a base branch commit that runs the tag, from the commit that brought it
// there onwards. A failed check closes it for good (people are told); no
// success by the timeout closes it too. Rollbacks skip it.
type healthGate struct{}

func (healthGate) Name() string { return GateHealth }

func (healthGate) Check(ctx context.Context, in GateInput) (GateResult, error) {
	rs, v := in.Rules, in.Views
	if in.Kind == intent.KindRollback {
		return GateResult{Open: true, Reason: "rollback: health not required"}, nil
	}
	var waits []GateResult
	var passed []string
	seen := map[string]bool{}
	for _, c := range in.Changes {
		if seen[c.Service] {
			continue
		}
		seen[c.Service] = true
		svc, ok := rs.Service(c.Service)
		if !ok {
			continue
		}
		prev, ok := rs.Prev(svc, in.Env.Name)
		if !ok || len(svc.Targets[prev]) == 0 {
			continue
		}
		names, err := rs.HealthChecks(svc.Name, prev)
		if err != nil {
			return GateResult{}, err
		}
		if len(names) == 0 {
			continue
		}
		if v.Checks == nil {
			return GateResult{Open: true, Reason: "not checked: no check results available"}, nil
		}
		ps, _ := rs.Env(svc.Name, prev)
		path, spec := Locate(svc, svc.Targets[prev][0], v.Base.Exists)
		want := c.New
		run, err := v.Checks.Run(ctx, path, func(b []byte) bool {
			ref, err := edit.Get(b, spec)
			return err == nil && sameRef(ref, want)
		})
		if err != nil {
			return GateResult{}, fmt.Errorf("read history of %s: %w", path, err)
		}
		what := c.Service + " " + refString(want)
		if len(run) == 0 {
			return GateResult{Reason: fmt.Sprintf("%s is not running in %s", what, prev)}, nil
		}
		r, err := judgeHealth(ctx, v.Checks, run, names, what, prev, ps.HealthTimeout, in.Now)
		if err != nil {
			return GateResult{}, err
		}
		switch {
		case r.Failed != nil:
			return r, nil
		case r.Open:
			passed = append(passed, strings.Join(names, ", "))
		default:
			waits = append(waits, r)
		}
	}
	if len(waits) > 0 {
		w := waits[0]
		for _, x := range waits[1:] {
			if x.RetryAt.IsZero() || (!w.RetryAt.IsZero() && x.RetryAt.After(w.RetryAt)) {
				w = x
			}
		}
		return w, nil
	}
	if len(passed) == 0 {
		return GateResult{Open: true, Reason: "no health checks required"}, nil
	}
	return GateResult{Open: true, Reason: "healthy in the previous environment: " + strings.Join(passed, "; ")}, nil
}

// judgeHealth reads the named checks on run (newest first): the newest
// commit that reports a verdict on a check (success, failure, error)
// decides it.
func judgeHealth(ctx context.Context, chk Checks, run []Commit, names []string, what, env string, timeout time.Duration, now time.Time) (GateResult, error) {
	arrival := run[len(run)-1]
	decided := map[string]CheckResult{}
	on := map[string]string{}
	commits := run
	if len(commits) > healthCommits {
		commits = append(append([]Commit(nil), run[:healthCommits-1]...), arrival)
	}
	for _, cm := range commits {
		var ask []string
		for _, n := range names {
			if _, ok := decided[n]; !ok {
				ask = append(ask, n)
			}
		}
		if len(ask) == 0 {
			break
		}
		rs, err := chk.Results(ctx, cm.SHA, ask)
		if err != nil {
			return GateResult{}, fmt.Errorf("read checks of %.7s: %w", cm.SHA, err)
		}
		for _, r := range rs {
			// A pending report (a sync in progress) does not hide an
			// earlier verdict on the same tag.
			if _, ok := decided[r.Name]; !ok && contains(ask, r.Name) && r.State != "pending" {
				decided[r.Name], on[r.Name] = r, cm.SHA
			}
		}
	}
	var missing []string
	for _, n := range names {
		r, ok := decided[n]
		switch {
		case ok && (r.State == "failure" || r.State == "error"):
			f := &CheckFailure{Check: n, URL: r.URL, Env: env, Commit: arrival.SHA, PR: mergedPR(arrival.Message), Tag: what, OnSHA: on[n]}
			reason := fmt.Sprintf("%s is not healthy in %s: check %s failed", what, env, n)
			if r.URL != "" {
				reason += " (" + r.URL + ")"
			}
			return GateResult{Reason: reason, Failed: f}, nil
		case !ok || r.State != "success":
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return GateResult{Open: true}, nil
	}
	sort.Strings(missing)
	deadline := arrival.When.Add(timeout)
	if !now.Before(deadline) {
		f := &CheckFailure{Check: strings.Join(missing, ", "), Env: env, Commit: arrival.SHA, PR: mergedPR(arrival.Message), Tag: what, TimedOut: timeout}
		return GateResult{Failed: f, Reason: fmt.Sprintf("%s is not healthy in %s: no success from %s within %s of reaching it (since %s)",
			what, env, f.Check, timeout, arrival.When.UTC().Format(time.RFC3339))}, nil
	}
	next := now.Add(max(HealthRecheck, timeout/healthRechecks))
	if next.After(deadline) {
		next = deadline
	}
	return GateResult{RetryAt: next, Reason: fmt.Sprintf("waiting for %s to report %s healthy in %s (looked at again on each report, and at %s; refused at %s)",
		strings.Join(missing, ", "), what, env, next.UTC().Format(time.RFC3339), deadline.UTC().Format(time.RFC3339))}, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// GitHub's merge commit messages: "Merge pull request #12 from ..." and a
// squash's "Title (#12)".
var (
	mergeMsgRE  = regexp.MustCompile(`^Merge pull request #(\d+) `)
	squashMsgRE = regexp.MustCompile(`\(#(\d+)\)$`)
)

// mergedPR reads the PR number GitHub wrote into a merge or squash commit's
// first line; 0 for a direct commit.
func mergedPR(msg string) int {
	line, _, _ := strings.Cut(msg, "\n")
	line = strings.TrimSpace(line)
	m := mergeMsgRE.FindStringSubmatch(line)
	if m == nil {
		m = squashMsgRE.FindStringSubmatch(line)
	}
	if m == nil {
		return 0
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n <= 0 {
		return 0
	}
	return n
}
