package ui

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A promotion promobot gave up on stays on the page, as HTML and JSON,
// with its reason, until the next promotion replaces it; hostile reasons
// are escaped.
func TestMatrixShowsFailedPromotions(t *testing.T) {
	src := smallSource()
	c := &src.status.Repositories[0].Services[0].Cells[2]
	c.Waiting = nil
	c.Failed = []Failure{
		{Tag: "v1.4.0", Reason: "gave up after 10 deliveries: github 502", At: fixtureNow.Add(-time.Hour)},
		{Tag: "<b>x</b>", Reason: "<script>alert(1)</script>", At: fixtureNow},
	}
	h := noAuthHandler(t, src)
	_, body, _ := get(t, h, "/")
	for _, want := range []string{
		`<p class="failed"><span aria-hidden="true">✗ </span><strong>Failed</strong> <code>v1.4.0</code>: gave up after 10 deliveries: github 502; at <time datetime="2026-11-20T11:00:00Z">`,
		"&lt;script&gt;alert(1)&lt;/script&gt;",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "<b>x</b>") {
		t.Error("hostile data reached the page unescaped")
	}

	_, js, _ := get(t, h, "/api/v1/status?env=prod")
	var st Status
	if err := json.Unmarshal([]byte(js), &st); err != nil {
		t.Fatal(err)
	}
	got := st.Repositories[0].Services[0].Cells[0].Failed
	if len(got) != 2 || got[0].Tag != "v1.4.0" || got[0].Reason != "gave up after 10 deliveries: github 502" || got[0].At.IsZero() {
		t.Errorf("failed = %+v", got)
	}
	for _, f := range []string{`"failed"`, `"reason"`, `"at": "2026-11-20T11:00:00Z"`} {
		if !strings.Contains(js, f) {
			t.Errorf("JSON lacks %s", f)
		}
	}
}
