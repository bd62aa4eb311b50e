package githubtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"
)

// hooksOf decodes the payloads of one event (and action, if set) as maps.
func (rc *receiver) hooksOf(event, action string) []map[string]any {
	var out []map[string]any
	for _, h := range rc.all() {
		if h.Event != event {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(h.Body, &m); err != nil {
			rc.t.Fatalf("decode %s: %v", event, err)
		}
		if action == "" || m["action"] == action {
			out = append(out, m)
		}
	}
	return out
}

func dig(m any, path ...string) any {
	for _, p := range path {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[p]
	}
	return m
}

func mustHave(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s lacks %q", what, k)
		}
	}
}

func TestStatusWebhookShape(t *testing.T) {
	e := newEnv(t)
	gh, _ := e.installationClient()
	main := e.s.Branches(testRepo)["main"]
	e.wait()
	e.hook.reset()
	if _, _, err := gh.Repositories.CreateStatus(e.ctx, "acme", "gitops", main, &github.RepoStatus{State: github.String("success"),
		Context: github.String("argocd/payment-staging"), TargetURL: github.String("https://argocd.example.com/applications/payment-staging")}); err != nil {
		t.Fatal(err)
	}
	e.wait()
	got := e.hook.hooksOf("status", "")
	if len(got) != 1 {
		t.Fatalf("status hooks = %d", len(got))
	}
	ev := got[0]
	mustHave(t, "status", ev, "id", "sha", "name", "context", "state", "target_url", "description", "commit", "branches", "repository", "installation", "sender", "created_at", "updated_at")
	if ev["sha"] != main || ev["state"] != "success" || ev["context"] != "argocd/payment-staging" || ev["name"] != testRepo || ev["description"] != "" {
		t.Errorf("status = %v", ev)
	}
	if dig(ev, "commit", "sha") != main || dig(ev, "commit", "commit", "message") == nil {
		t.Errorf("commit = %v", ev["commit"])
	}
	br, _ := ev["branches"].([]any)
	if len(br) != 1 || dig(br[0], "name") != "main" || dig(br[0], "commit", "sha") != main {
		t.Errorf("branches = %v", ev["branches"])
	}
	if dig(ev, "installation", "id") != float64(testInstID) || dig(ev, "sender", "login") != "promobot[bot]" {
		t.Errorf("installation/sender = %v %v", ev["installation"], ev["sender"])
	}
	// The helper goes the same way.
	e.hook.reset()
	if err := e.s.SetStatus(testRepo, "main", "ci", "failure", "", "argocd"); err != nil {
		t.Fatal(err)
	}
	e.wait()
	if got := e.hook.hooksOf("status", ""); len(got) != 1 || got[0]["state"] != "failure" || dig(got[0], "sender", "login") != "argocd" || got[0]["target_url"] != nil {
		t.Fatalf("helper status = %v", got)
	}
	if err := e.s.SetStatus(testRepo, "main", "ci", "green", "", "argocd"); err == nil {
		t.Error("bad state accepted")
	}
}

func TestCheckRunLifecycle(t *testing.T) {
	e := newEnv(t)
	gh, _ := e.installationClient()
	main := e.s.Branches(testRepo)["main"]
	e.wait()
	e.hook.reset()
	ann := func(line int, level string) *github.CheckRunAnnotation {
		return &github.CheckRunAnnotation{Path: github.String("apps/payment/overlays/prod/kustomization.yaml"), StartLine: github.Int(line),
			EndLine: github.Int(line), AnnotationLevel: github.String(level), Message: github.String("tag never staged")}
	}
	run, _, err := gh.Checks.CreateCheckRun(e.ctx, "acme", "gitops", github.CreateCheckRunOptions{Name: "promobot/policy", HeadSHA: main,
		Status: github.String("in_progress"), ExternalID: github.String("intent-1"), DetailsURL: github.String("https://promobot.example.com/i/1"),
		Output: &github.CheckRunOutput{Title: github.String("Checking"), Summary: github.String("..."), Annotations: []*github.CheckRunAnnotation{ann(3, "warning"), ann(4, "notice")}}})
	if err != nil {
		t.Fatal(err)
	}
	if run.GetStatus() != "in_progress" || run.Conclusion != nil || run.GetOutput().GetAnnotationsCount() != 2 || run.GetApp().GetSlug() != "promobot" || run.GetCheckSuite().GetID() == 0 {
		t.Fatalf("created = %v", run)
	}
	done, _, err := gh.Checks.UpdateCheckRun(e.ctx, "acme", "gitops", run.GetID(), github.UpdateCheckRunOptions{Name: "promobot/policy",
		Conclusion: github.String("failure"),
		Output:     &github.CheckRunOutput{Title: github.String("Blocked"), Summary: github.String("v2 never reached staging"), Annotations: []*github.CheckRunAnnotation{ann(3, "failure")}}})
	if err != nil {
		t.Fatal(err)
	}
	if done.GetStatus() != "completed" || done.GetConclusion() != "failure" || done.GetOutput().GetAnnotationsCount() != 3 || done.CompletedAt == nil {
		t.Fatalf("updated = %v", done)
	}
	one, _, err := gh.Checks.GetCheckRun(e.ctx, "acme", "gitops", run.GetID())
	if err != nil || one.GetOutput().GetTitle() != "Blocked" || one.GetExternalID() != "intent-1" || one.GetDetailsURL() != "https://promobot.example.com/i/1" {
		t.Fatalf("get = %v %v", one, err)
	}
	anns, _, err := gh.Checks.ListCheckRunAnnotations(e.ctx, "acme", "gitops", run.GetID(), nil)
	if err != nil || len(anns) != 3 || anns[2].GetAnnotationLevel() != "failure" || anns[0].GetStartLine() != 3 {
		t.Fatalf("annotations = %v %v", anns, err)
	}
	list, _, err := gh.Checks.ListCheckRunsForRef(e.ctx, "acme", "gitops", "main", &github.ListCheckRunsOptions{CheckName: github.String("promobot/policy")})
	if err != nil || list.GetTotal() != 1 || list.CheckRuns[0].GetID() != run.GetID() {
		t.Fatalf("list = %v %v", list, err)
	}
	list, _, _ = gh.Checks.ListCheckRunsForRef(e.ctx, "acme", "gitops", "main", &github.ListCheckRunsOptions{CheckName: github.String("other")})
	if list.GetTotal() != 0 || len(list.CheckRuns) != 0 {
		t.Fatalf("list other = %v", list)
	}
	suites, _, err := gh.Checks.ListCheckSuitesForRef(e.ctx, "acme", "gitops", main, nil)
	if err != nil || suites.GetTotal() != 1 || suites.CheckSuites[0].GetConclusion() != "failure" || suites.CheckSuites[0].GetHeadBranch() != "main" {
		t.Fatalf("suites = %v %v", suites, err)
	}

	e.wait()
	created, completed := e.hook.hooksOf("check_run", "created"), e.hook.hooksOf("check_run", "completed")
	if len(created) != 1 || len(completed) != 1 {
		t.Fatalf("check_run hooks: %d created, %d completed", len(created), len(completed))
	}
	cr := completed[0]
	mustHave(t, "check_run", cr, "action", "check_run", "repository", "sender", "installation")
	if dig(cr, "check_run", "conclusion") != "failure" || dig(cr, "check_run", "check_suite", "head_sha") != main || dig(cr, "check_run", "output", "annotations_count") != float64(3) {
		t.Errorf("check_run completed = %v", cr["check_run"])
	}
	cs := e.hook.hooksOf("check_suite", "completed")
	if len(cs) != 1 {
		t.Fatalf("check_suite completed hooks = %d", len(cs))
	}
	mustHave(t, "check_suite", cs[0]["check_suite"].(map[string]any), "id", "node_id", "head_branch", "head_sha", "status", "conclusion",
		"url", "before", "after", "pull_requests", "app", "created_at", "updated_at", "latest_check_runs_count", "check_runs_url", "head_commit")
	if dig(cs[0], "check_suite", "conclusion") != "failure" || dig(cs[0], "check_suite", "status") != "completed" {
		t.Errorf("check_suite = %v", cs[0]["check_suite"])
	}

	// The helpers play CI: a second run reopens the suite, whose
	// conclusion is then the worst of its runs.
	e.hook.reset()
	id, err := e.s.CreateCheckRun(testRepo, "main", "ci/build")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.CompleteCheckRun(testRepo, id, "success"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.CompleteCheckRun(testRepo, id, "green"); err == nil {
		t.Error("bad conclusion accepted")
	}
	e.wait()
	if got := e.hook.hooksOf("check_run", ""); len(got) != 2 {
		t.Errorf("helper check_run hooks = %d", len(got))
	}
	if cs := e.hook.hooksOf("check_suite", "completed"); len(cs) != 1 || dig(cs[0], "check_suite", "conclusion") != "failure" {
		t.Errorf("suite after helper = %v", cs)
	}
	runs := e.s.CheckRuns(testRepo, "main")
	if len(runs) != 2 || runs[0].Conclusion != "failure" || len(runs[0].Annotations) != 3 || runs[1].Name != "ci/build" || runs[1].Conclusion != "success" {
		t.Errorf("CheckRuns = %+v", runs)
	}
}

func TestCheckRunListingFiltersAndPages(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{"a", "b", "c", "a"} {
		if _, err := e.s.CreateCheckRun(testRepo, "main", name); err != nil {
			t.Fatal(err)
		}
	}
	auth := "token " + testStatic
	code, h, body := e.raw("GET", "/api/v3/repos/acme/gitops/commits/main/check-runs?per_page=2", auth, "")
	var page struct {
		Total int `json:"total_count"`
		Runs  []struct {
			Name string `json:"name"`
		} `json:"check_runs"`
	}
	if err := json.Unmarshal(body, &page); err != nil || code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	if page.Total != 3 || len(page.Runs) != 2 || !strings.Contains(h.Get("Link"), `rel="next"`) {
		t.Errorf("latest page = %+v link %q", page, h.Get("Link"))
	}
	_, _, body = e.raw("GET", "/api/v3/repos/acme/gitops/commits/main/check-runs?filter=all&check_name=a", auth, "")
	_ = json.Unmarshal(body, &page)
	if page.Total != 2 {
		t.Errorf("all a = %+v", page)
	}
	for _, bad := range []string{"/commits/main/check-runs?filter=bogus", "/commits/nope/check-runs", "/check-runs/99999999", "/check-runs/x/annotations"} {
		if code, _, _ := e.raw("GET", "/api/v3/repos/acme/gitops"+bad, auth, ""); code != 404 && code != 422 {
			t.Errorf("%s = %d", bad, code)
		}
	}
}

func TestCheckRunRefusals(t *testing.T) {
	e := newEnv(t)
	main := e.s.Branches(testRepo)["main"]
	ann := func(level string) string {
		return fmt.Sprintf(`{"path":"README.md","start_line":1,"end_line":1,"annotation_level":%q,"message":"m"}`, level)
	}
	many := make([]string, 51)
	for i := range many {
		many[i] = ann("notice")
	}
	long := strings.Repeat("x", 65536)
	cases := []struct {
		name, body string
		code       int
		msg        string
	}{
		{"malformed", `{"name":`, 400, "Problems parsing JSON"},
		{"no name nor sha", `{}`, 422, "Invalid request.\n\n\"name\", \"head_sha\" weren't supplied."},
		{"bad status", `{"name":"x","head_sha":"` + main + `","status":"running"}`, 422, `For 'properties/status', "running" is not a member of`},
		{"bad conclusion", `{"name":"x","head_sha":"` + main + `","conclusion":"green"}`, 422, `For 'properties/conclusion', "green" is not a member of`},
		{"completed without conclusion", `{"name":"x","head_sha":"` + main + `","status":"completed"}`, 422, `"conclusion" wasn't supplied.`},
		{"output without summary", `{"name":"x","head_sha":"` + main + `","output":{"title":"t"}}`, 422, `"summary" wasn't supplied.`},
		{"oversized summary", `{"name":"x","head_sha":"` + main + `","output":{"title":"t","summary":"` + long + `"}}`, 422, "Only 65535 characters are allowed; 65536 were supplied."},
		{"51 annotations", `{"name":"x","head_sha":"` + main + `","output":{"title":"t","summary":"s","annotations":[` + strings.Join(many, ",") + `]}}`, 422, "at most 50"},
		{"bad level", `{"name":"x","head_sha":"` + main + `","output":{"title":"t","summary":"s","annotations":[` + ann("error") + `]}}`, 422, `"error" is not a member of ["notice", "warning", "failure"]`},
		{"annotation without path", `{"name":"x","head_sha":"` + main + `","output":{"title":"t","summary":"s","annotations":[{"start_line":1,"end_line":1,"annotation_level":"notice","message":"m"}]}}`, 422, `"path" wasn't supplied.`},
		{"columns across lines", `{"name":"x","head_sha":"` + main + `","output":{"title":"t","summary":"s","annotations":[{"path":"a","start_line":1,"end_line":2,"start_column":3,"annotation_level":"notice","message":"m"}]}}`, 422, "Validation Failed"},
		{"unknown sha", `{"name":"x","head_sha":"` + strings.Repeat("ab", 20) + `"}`, 422, "No commit found for SHA"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := e.raw("POST", "/api/v3/repos/acme/gitops/check-runs", "token "+testStatic, tc.body)
			var m struct{ Message string }
			_ = json.Unmarshal(body, &m)
			if code != tc.code || !strings.Contains(m.Message, tc.msg) {
				t.Errorf("= %d %q, want %d %q", code, m.Message, tc.code, tc.msg)
			}
		})
	}
	if runs := e.s.CheckRuns(testRepo, main); len(runs) != 0 {
		t.Fatalf("refused requests created runs: %+v", runs)
	}
	// Annotations append across updates, 50 at a time.
	id, _ := e.s.CreateCheckRun(testRepo, main, "policy")
	fifty := strings.Join(many[:50], ",")
	for i := 0; i < 2; i++ {
		code, _, body := e.raw("PATCH", fmt.Sprintf("/api/v3/repos/acme/gitops/check-runs/%d", id), "token "+testStatic, `{"output":{"summary":"s","annotations":[`+fifty+`]}}`)
		if code != http.StatusOK {
			t.Fatalf("update %d: %d %s", i, code, body)
		}
	}
	if runs := e.s.CheckRuns(testRepo, main); len(runs[0].Annotations) != 100 {
		t.Errorf("annotations after two updates = %d", len(runs[0].Annotations))
	}
	if code, _, _ := e.raw("PATCH", fmt.Sprintf("/api/v3/repos/acme/gitops/check-runs/%d", id), "token "+testStatic, `{"conclusion":"meh"}`); code != 422 {
		t.Errorf("bad update conclusion = %d", code)
	}
}
