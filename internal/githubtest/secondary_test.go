package githubtest

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Content-creating requests beyond a limit get GitHub's secondary-limit
// answer and take no effect; reads and the hook behind the limiter are
// unaffected.
func TestLimitContent(t *testing.T) {
	e := newEnv(t)
	var behind []string
	e.s.SetFault(func(c Call) *Fault {
		behind = append(behind, c.Method+" "+c.Route)
		return nil
	})
	l := e.s.LimitContent(ContentLimit{Period: time.Hour, Limit: 2})
	label := func(name string) (int, map[string]any, map[string][]string) {
		code, h, b := e.raw("POST", "/api/v3/repos/acme/gitops/labels", "token "+testStatic, `{"name":"`+name+`","color":"ffffff"}`)
		var out map[string]any
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%d %s: %v", code, b, err)
		}
		return code, out, h
	}
	for _, name := range []string{"a", "b"} {
		if code, out, _ := label(name); code != 201 {
			t.Fatalf("label %s: %d %v", name, code, out)
		}
	}
	code, out, h := label("c")
	if code != 403 {
		t.Fatalf("third write: %d %v, want 403", code, out)
	}
	msg, _ := out["message"].(string)
	if !strings.HasPrefix(msg, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.") ||
		!strings.Contains(msg, "include the request ID "+h["X-Github-Request-Id"][0]+".") {
		t.Errorf("message %q (request id %v)", msg, h["X-Github-Request-Id"])
	}
	if doc, _ := out["documentation_url"].(string); !strings.HasSuffix(doc, "#about-secondary-rate-limits") {
		t.Errorf("documentation_url %q", doc)
	}
	if ra, err := strconv.Atoi(first(h["Retry-After"])); err != nil || ra < 3590 || ra > 3600 {
		t.Errorf("Retry-After %v, want the hour's remaining seconds", h["Retry-After"])
	}
	for k := range h {
		if strings.HasPrefix(k, "X-Ratelimit-") {
			t.Errorf("secondary-limit answer carries %s (GitHub's does not)", k)
		}
	}
	if ct := first(h["Content-Type"]); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	// No effect: the label does not exist.
	if code, _, _ := e.raw("GET", "/api/v3/repos/acme/gitops/labels/c", "token "+testStatic, ""); code != 404 {
		t.Errorf("refused label created: GET %d", code)
	}
	// Reads pass, with the primary headers.
	if code, h, _ := e.raw("GET", "/api/v3/repos/acme/gitops", "token "+testStatic, ""); code != 200 || first(h["X-Ratelimit-Remaining"]) == "" {
		t.Errorf("read: %d, headers %v", code, h)
	}
	if l.Accepted() != 2 || l.Refused() != 1 || l.MaxIn(time.Hour) != 2 {
		t.Errorf("accepted %d, refused %d, most in an hour %d", l.Accepted(), l.Refused(), l.MaxIn(time.Hour))
	}
	want := []string{
		"POST POST /repos/{owner}/{repo}/labels", "POST POST /repos/{owner}/{repo}/labels",
		"GET GET /repos/{owner}/{repo}/labels/{name}", "GET GET /repos/{owner}/{repo}",
	}
	if strings.Join(behind, "\n") != strings.Join(want, "\n") {
		t.Errorf("the hook behind saw\n%s\nwant\n%s", strings.Join(behind, "\n"), strings.Join(want, "\n"))
	}
	// A fixed Retry-After, as api.github.com answers.
	l.SetRetryAfter(time.Minute)
	if _, _, h := label("d"); first(h["Retry-After"]) != "60" {
		t.Errorf("Retry-After %v, want 60", h["Retry-After"])
	}
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}
