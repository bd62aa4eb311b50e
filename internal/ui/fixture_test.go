package ui

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// fakeSource is a Source over fixed data.
type fakeSource struct {
	status   Status
	timeline map[string][]Change // "owner/repo/service"
	err      error
}

func (f *fakeSource) Status(context.Context) (Status, error) { return f.status, f.err }

func (f *fakeSource) Timeline(_ context.Context, repo, service string) ([]Change, bool, error) {
	if f.err != nil {
		return nil, false, f.err
	}
	c, ok := f.timeline[strings.ToLower(repo)+"/"+service]
	return c, ok, nil
}

var fixtureNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// smallSource: two repositories, acme/gitops (payment-service waiting on
// a window gate, with an open PR) and acme/secret-gitops.
func smallSource() *fakeSource {
	t0 := fixtureNow.Add(-72 * time.Hour)
	return &fakeSource{
		status: Status{GeneratedAt: fixtureNow, Repositories: []Repository{
			{Repo: "acme/gitops", URL: "https://github.example/acme/gitops", Head: "3f1c2a9e8d7b6a5f4e3d2c1b0a9f8e7d6c5b4a39", Environments: []string{"dev", "staging", "prod"}, Services: []Service{
				{Name: "payment-service", Cells: []Cell{
					{Env: "dev", Tag: "v1.4.0", Since: t0, PromotedBy: "build #42", PR: 0, Commit: "aaaaaaaaaaaa"},
					{Env: "staging", Tag: "v1.3.0", Since: t0, PromotedBy: "alice", PR: 7, PRURL: "https://github.example/acme/gitops/pull/7",
						Health: "healthy", HealthChecks: []HealthCheck{{Name: "argocd/payment-service-staging", State: "healthy", Reported: "success",
							URL: "https://argocd.example/applications/payment-service-staging", At: t0.Add(5 * time.Minute)}},
						OpenPRs: []PRRef{{Number: 9, URL: "https://github.example/acme/gitops/pull/9", Tag: "v1.4.0"}}},
					{Env: "prod", Tag: "v1.2.0", Digest: "sha256:0123456789abcdef0123456789abcdef", Since: t0, PromotedBy: "bob", PR: 5, PRURL: "https://github.example/acme/gitops/pull/5",
						Waiting: []Wait{{Tag: "v1.3.0", Gate: "window", Reason: "outside the deployment window Mon-Thu 09:00-16:00", OpensAt: fixtureNow.Add(20 * time.Hour)}},
						Drift:   []Drift{{Kind: "hand-edit", Message: "last changed by carol, not promobot"}}},
				}},
				{Name: "ledger", Cells: []Cell{{Env: "dev", Tag: "2.0.1"}, {Env: "prod", Tag: "2.0.0",
					Failed: []Failure{{Tag: "2.0.1", Reason: "the ticket LEDGER-12 is not in the pull request", At: fixtureNow.Add(-time.Hour)}}}}},
			}},
			{Repo: "acme/secret-gitops", Environments: []string{"dev", "prod"}, Services: []Service{
				{Name: "vault-agent", Cells: []Cell{{Env: "dev", Tag: "s3cr3t-1"}, {Env: "prod", Tag: "s3cr3t-0"}}},
			}},
		}},
		timeline: map[string][]Change{
			"acme/gitops/payment-service": changes(120, t0),
			"acme/gitops/ledger":          nil,
			"acme/secret-gitops/vault-agent": {
				{Time: t0, Env: "prod", Commit: "ffffffffffff", From: "s3cr3t-x", To: "s3cr3t-0", How: "hand-edit"},
			},
		},
	}
}

// changes makes n tag changes, newest first, one a day back from t.
func changes(n int, t time.Time) []Change {
	envs := []string{"dev", "staging", "prod"}
	out := make([]Change, n)
	for i := range out {
		out[i] = Change{Time: t.Add(-time.Duration(i) * 24 * time.Hour), Env: envs[i%3], Commit: fmt.Sprintf("%040x", i+1),
			From: fmt.Sprintf("v1.%d.0", n-i-1), To: fmt.Sprintf("v1.%d.0", n-i), How: "pr", PR: 1000 + i,
			PRURL: fmt.Sprintf("https://github.example/acme/gitops/pull/%d", 1000+i), Requester: "alice",
			Ticket: fmt.Sprintf("PAY-%d", i), TicketURL: fmt.Sprintf("https://jira.example/browse/PAY-%d", i)}
	}
	return out
}

// bigSource is a generator's worth: services × envs with a year of
// history per service.
func bigSource(services int, envs []string) *fakeSource {
	t0 := fixtureNow.Add(-time.Hour)
	src := &fakeSource{timeline: map[string][]Change{}}
	rp := Repository{Repo: "acme/platform-gitops", URL: "https://github.example/acme/platform-gitops", Environments: envs}
	for i := range services {
		s := Service{Name: fmt.Sprintf("service-%03d", i)}
		for j, e := range envs {
			c := Cell{Env: e, Tag: fmt.Sprintf("v%d.%d.%d", j, i, 7), Since: t0.Add(-time.Duration(j) * 48 * time.Hour),
				PromotedBy: "alice", PR: 100 + i*4 + j, PRURL: fmt.Sprintf("https://github.example/acme/platform-gitops/pull/%d", 100+i*4+j), Commit: fmt.Sprintf("%040x", i*4+j)}
			if i%10 == 0 && j == len(envs)-1 {
				c.Waiting = []Wait{{Tag: "v9", Gate: "soak", Reason: "staging has run v9 for 2h of 24h", OpensAt: fixtureNow.Add(22 * time.Hour)}}
			}
			if i%17 == 0 {
				c.Drift = []Drift{{Kind: "lag", Message: "lags the previous environment for 9 days"}}
			}
			s.Cells = append(s.Cells, c)
		}
		rp.Services = append(rp.Services, s)
		src.timeline["acme/platform-gitops/"+s.Name] = changes(365, t0)
	}
	src.status = Status{GeneratedAt: fixtureNow, Repositories: []Repository{rp}}
	return src
}
