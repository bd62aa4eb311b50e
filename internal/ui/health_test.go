package ui

import (
	"encoding/json"
	"strings"
	"testing"
)

// healthSource is smallSource with health on staging (unhealthy: one
// check failed, one pending) and prod (unknown); dev has none.
func healthSource() *fakeSource {
	src := smallSource()
	cells := src.status.Repositories[0].Services[0].Cells
	cells[1].Health = "unhealthy"
	cells[1].HealthChecks = []HealthCheck{
		{Name: "argocd/payment-service-staging", State: "unhealthy", Reported: "failure", URL: "https://argocd.example/app/payment-staging", At: fixtureNow},
		{Name: "smoke/<b>payment</b>", State: "progressing", Reported: "pending", URL: "javascript:alert(1)", At: fixtureNow},
	}
	cells[2].Health = "unknown"
	cells[2].HealthChecks = []HealthCheck{{Name: "argocd/payment-service-prod", State: "unknown"}}
	return src
}

func TestMatrixShowsHealth(t *testing.T) {
	_, body, _ := get(t, noAuthHandler(t, healthSource()), "/")
	for _, want := range []string{
		`<p class="health health-unhealthy"><span aria-hidden="true">✗ </span><strong>Health</strong>: unhealthy — ` +
			`<a href="https://argocd.example/app/payment-staging">argocd/payment-service-staging</a>: unhealthy (<time datetime="2026-11-20T12:00:00Z">`,
		`; smoke/&lt;b&gt;payment&lt;/b&gt;: progressing`,
		`<p class="health health-unknown"><span aria-hidden="true">? </span><strong>Health</strong>: unknown — argocd/payment-service-prod: unknown</p>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "javascript:") || strings.Contains(body, "<b>payment") {
		t.Error("a hostile check link or name reached the page")
	}
	if n := strings.Count(body, `class="health `); n != 2 {
		t.Errorf("%d health lines, want 2 (dev has no health checks)", n)
	}
}

func TestStatusJSONHasHealth(t *testing.T) {
	_, body, _ := get(t, noAuthHandler(t, healthSource()), "/api/v1/status?env=staging")
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	c := st.Repositories[0].Services[0].Cells[0]
	if c.Health != "unhealthy" || len(c.HealthChecks) != 2 || c.HealthChecks[0].Reported != "failure" || !c.HealthChecks[0].At.Equal(fixtureNow) {
		t.Errorf("staging = %+v", c)
	}
	for _, f := range []string{`"health":"unhealthy"`, `"healthChecks"`, `"reported":"pending"`, `"state":"progressing"`} {
		if !strings.Contains(strings.Join(strings.Fields(body), ""), f) {
			t.Errorf("JSON lacks %s", f)
		}
	}
}
