package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func sha1Sig(body []byte) string {
	m := hmac.New(sha1.New, testSecret)
	m.Write(body)
	return "sha1=" + hex.EncodeToString(m.Sum(nil))
}

func sha512Sig(body []byte) string {
	m := hmac.New(sha512.New, testSecret)
	m.Write(body)
	return "sha512=" + hex.EncodeToString(m.Sum(nil))
}

// hugePush is a push to the GitOps repository whose commit list is far
// longer than GitHub ever sends (the original commit touches dev).
func hugePush(t testing.TB, commits int) []byte {
	var b strings.Builder
	for i := 0; i < commits; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":"%040x","message":"c%d","added":["docs/%d.md"],"modified":["x/%d"],"removed":[]}`, i, i, i, i)
	}
	return edit(t, payload(t, "push/branch-push-forced.argo-cd.json"), `"commits": [`, `"commits": [`+b.String()+`,`)
}

func manyKeys(n int, dupAtEnd bool) []byte {
	var b bytes.Buffer
	b.WriteString(`{"ref":"refs/heads/master"`)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `,"k%d":%d`, i, i)
	}
	if dupAtEnd {
		b.WriteString(`,"k7":1`)
	}
	b.WriteString("}")
	return b.Bytes()
}

// TestHostileInput: every case answers a specific status, publishes
// nothing and does not panic.
func TestHostileInput(t *testing.T) {
	wr := payload(t, "workflow_run/completed.octokit.json")
	tagPush := payload(t, "push/tag-create.drone.json")
	gitops := payload(t, "push/branch-push-forced.argo-cd.json")
	big := bytes.Repeat([]byte(" "), 26<<20)
	copy(big, `{"a":1}`)
	deepArr := []byte(`{"a":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`)
	deepObj := []byte(strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000))
	inst := payload(t, "installation/created.octokit.json")
	instRepos := payload(t, "installation_repositories/added.octokit.json")
	bigInst := bytes.Repeat([]byte(" "), 26<<20)
	copy(bigInst, `{"action":"deleted","installation":{"id":1}}`)

	cases := []struct {
		name    string
		d       delivery
		status  int
		outcome string
	}{
		// signatures
		{"no signature", delivery{event: "push", id: deliveryID, body: tagPush, sig: strp("")}, 401, OutcomeUnauthorized},
		{"signature of another body", delivery{event: "push", id: deliveryID, body: tagPush, sig: strp(sign(testSecret, wr))}, 401, OutcomeUnauthorized},
		{"signature with another secret", delivery{event: "push", id: deliveryID, body: tagPush, sig: strp(sign([]byte("guess"), tagPush))}, 401, OutcomeUnauthorized},
		{"sha1 X-Hub-Signature only", delivery{event: "push", id: deliveryID, body: tagPush, sig: strp(""), header: map[string]string{"X-Hub-Signature": sha1Sig(tagPush)}}, 401, OutcomeUnauthorized},
		{"valid sha1 hmac in the sha256 header", delivery{event: "push", id: deliveryID, body: tagPush, sig: strp(sha1Sig(tagPush))}, 401, OutcomeUnauthorized},
		{"valid sha512 hmac in the sha256 header", delivery{event: "push", id: deliveryID, body: tagPush, sig: strp(sha512Sig(tagPush))}, 401, OutcomeUnauthorized},
		{"sha256= with non-hex", delivery{event: "push", id: deliveryID, body: tagPush, sig: strp("sha256=" + strings.Repeat("zz", 32))}, 401, OutcomeUnauthorized},
		{"sha256= empty", delivery{event: "push", id: deliveryID, body: tagPush, sig: strp("sha256=")}, 401, OutcomeUnauthorized},
		{"signature truncated", delivery{event: "push", id: deliveryID, body: tagPush, sig: strp(sign(testSecret, tagPush)[:40])}, 401, OutcomeUnauthorized},
		// headers
		{"event header missing", delivery{id: deliveryID, body: tagPush}, 400, OutcomeInvalid},
		{"event header garbage", delivery{event: "push\r\nX-Evil: 1", id: deliveryID, body: tagPush}, 400, OutcomeInvalid},
		{"event header too long", delivery{event: strings.Repeat("a", 65), id: deliveryID, body: tagPush}, 400, OutcomeInvalid},
		{"delivery header missing", delivery{event: "push", body: tagPush}, 400, OutcomeInvalid},
		{"delivery id with a dot and colon", delivery{event: "push", id: "a.b:c", body: tagPush}, 400, OutcomeInvalid},
		{"delivery id with a subject wildcard", delivery{event: "push", id: "abc>", body: tagPush}, 400, OutcomeInvalid},
		// bodies
		{"malformed json", delivery{event: "push", id: deliveryID, body: []byte(`{"ref": "refs/tags/v1.0.0",}`)}, 400, OutcomeInvalid},
		{"26 MiB body", delivery{event: "push", id: deliveryID, body: big}, 413, OutcomeTooLarge},
		{"deep array nesting", delivery{event: "push", id: deliveryID, body: deepArr}, 400, OutcomeInvalid},
		{"deep object nesting", delivery{event: "push", id: deliveryID, body: deepObj}, 400, OutcomeInvalid},
		{"10,000 [ alone", delivery{event: "push", id: deliveryID, body: bytes.Repeat([]byte("["), 10000)}, 400, OutcomeInvalid},
		{"invalid utf-8", delivery{event: "push", id: deliveryID, body: edit(t, tagPush, `"ref": "refs/tags/v0.0.1"`, "\"ref\": \"refs/tags/v0.0.1\xff\xfe\"")}, 400, OutcomeInvalid},
		{"raw control character in a string", delivery{event: "push", id: deliveryID, body: []byte("{\"ref\":\"a\x00b\"}")}, 400, OutcomeInvalid},
		{"duplicate keys", delivery{event: "push", id: deliveryID, body: edit(t, tagPush, `"ref": "refs/tags/v0.0.1"`, `"ref": "refs/tags/v0.0.1", "ref": "refs/tags/v9.9.9"`)}, 400, OutcomeInvalid},
		{"duplicate keys differing in case", delivery{event: "push", id: deliveryID, body: edit(t, tagPush, `"ref": "refs/tags/v0.0.1"`, `"ref": "refs/tags/v0.0.1", "REF": "refs/tags/v9.9.9"`)}, 400, OutcomeInvalid},
		{"duplicate keys through an escape", delivery{event: "push", id: deliveryID, body: edit(t, tagPush, `"ref": "refs/tags/v0.0.1"`, `"ref": "refs/tags/v0.0.1", "r\u0065f": "refs/tags/v9.9.9"`)}, 400, OutcomeInvalid},
		{"duplicate key after 200k keys", delivery{event: "push", id: deliveryID, body: manyKeys(200000, true)}, 400, OutcomeInvalid},
		{"null body", delivery{event: "push", id: deliveryID, body: []byte("null")}, 400, OutcomeInvalid},
		{"empty body", delivery{event: "push", id: deliveryID, body: []byte{}}, 400, OutcomeInvalid},
		{"two json values", delivery{event: "push", id: deliveryID, body: []byte(`{} {}`)}, 400, OutcomeInvalid},
		{"byte order mark", delivery{event: "push", id: deliveryID, body: append([]byte("\xef\xbb\xbf"), tagPush...)}, 400, OutcomeInvalid},
		{"installation id overflows", delivery{event: "push", id: deliveryID, body: edit(t, tagPush, `"ref": "refs/tags/v0.0.1"`, `"ref": "refs/tags/v0.0.1", "installation": {"id": 1e400}`)}, 400, OutcomeInvalid},
		{"form with two payload fields", delivery{event: "push", id: deliveryID, body: []byte("payload=%7B%7D&payload=%7B%7D"), contentType: strp("application/x-www-form-urlencoded")}, 400, OutcomeInvalid},
		// payload fields
		{"tag name with a newline", delivery{event: "push", id: deliveryID, body: edit(t, tagPush, `"ref": "refs/tags/v0.0.1"`, `"ref": "refs/tags/v0.0.1\n"`)}, 202, OutcomeInvalid},
		{"tag name with a colon", delivery{event: "push", id: deliveryID, body: edit(t, tagPush, `"ref": "refs/tags/v0.0.1"`, `"ref": "refs/tags/v0.0.1:latest"`)}, 202, OutcomeInvalid},
		{"tag name with spaces", delivery{event: "push", id: deliveryID, body: edit(t, tagPush, `"ref": "refs/tags/v0.0.1"`, `"ref": "refs/tags/v0.0.1 ; rm -rf"`)}, 202, OutcomeInvalid},
		{"tag name of 200 characters", delivery{event: "push", id: deliveryID, body: edit(t, tagPush, `"ref": "refs/tags/v0.0.1"`, `"ref": "refs/tags/v`+strings.Repeat("1", 200)+`"`)}, 202, OutcomeInvalid},
		{"branch ref with ..", delivery{event: "push", id: deliveryID, body: edit(t, gitops, `"ref": "refs/heads/master"`, `"ref": "refs/heads/master/../master"`)}, 202, OutcomeIgnored},
		{"workflow head_branch with ..", delivery{event: "workflow_run", id: deliveryID, body: edit(t, wr, `"head_branch": "master"`, `"head_branch": "ma..ster"`)}, 202, OutcomeInvalid},
		{"workflow head_sha not hex", delivery{event: "workflow_run", id: deliveryID, body: edit(t, wr, `"head_sha": "3484a3fb816e0859fd6e1cea078d76385ff50625"`, `"head_sha": "3484a3f/../../etc/passwd0000000000000000"`)}, 202, OutcomeInvalid},
		{"source full_name a/b/c", delivery{event: "workflow_run", id: deliveryID, body: edit(t, wr, `    "full_name": "octo-org/octo-repo",
    "git_commits_url"`, `    "full_name": "octo-org/octo-repo/c",
    "git_commits_url"`)}, 202, OutcomeIgnored},
		{"gitops full_name ../x", delivery{event: "push", id: deliveryID, body: edit(t, gitops, `"full_name": "jessesuen/test-repo"`, `"full_name": "../x"`)}, 202, OutcomeIgnored},
		{"gitops full_name with a trailing path", delivery{event: "push", id: deliveryID, body: edit(t, gitops, `"full_name": "jessesuen/test-repo"`, `"full_name": "jessesuen/test-repo/../other"`)}, 202, OutcomeIgnored},
		{"huge commit list on another branch", delivery{event: "push", id: deliveryID, body: edit(t, hugePush(t, 20000), `"ref": "refs/heads/master"`, `"ref": "refs/heads/feature"`)}, 202, OutcomeIgnored},
		{"200k distinct keys", delivery{event: "push", id: deliveryID, body: manyKeys(200000, false)}, 202, OutcomeIgnored},
		// installation events: never reach Config.OnInstallation
		{"installation unsigned", delivery{event: "installation", id: deliveryID, body: inst, sig: strp("")}, 401, OutcomeUnauthorized},
		{"installation signed for another body", delivery{event: "installation", id: deliveryID, body: inst, sig: strp(sign(testSecret, instRepos))}, 401, OutcomeUnauthorized},
		{"installation malformed json", delivery{event: "installation", id: deliveryID, body: []byte(`{"action":"deleted","installation":{"id":2},}`)}, 400, OutcomeInvalid},
		{"installation null body", delivery{event: "installation", id: deliveryID, body: []byte("null")}, 400, OutcomeInvalid},
		{"installation 26 MiB body", delivery{event: "installation", id: deliveryID, body: bigInst}, 413, OutcomeTooLarge},
		{"installation_repositories 26 MiB body", delivery{event: "installation_repositories", id: deliveryID, body: bigInst}, 413, OutcomeTooLarge},
		{"installation duplicate id", delivery{event: "installation", id: deliveryID, body: edit(t, inst, `"id": 957387,`, `"id": 957387, "id": 1,`)}, 400, OutcomeInvalid},
		{"installation duplicate action through an escape", delivery{event: "installation", id: deliveryID, body: edit(t, inst, `"action": "created",`, `"action": "created", "\u0061ction": "deleted",`)}, 400, OutcomeInvalid},
		{"installation_repositories duplicate list differing in case", delivery{event: "installation_repositories", id: deliveryID, body: edit(t, instRepos, `"repositories_removed": [],`, `"repositories_removed": [], "Repositories_Removed": [{"full_name": "a/b"}],`)}, 400, OutcomeInvalid},
		{"installation_repositories duplicate key inside a repository", delivery{event: "installation_repositories", id: deliveryID, body: edit(t, instRepos, `"repositories_removed": [],`, `"repositories_removed": [{"full_name": "a/b", "FULL_NAME": "c/d"}],`)}, 400, OutcomeInvalid},
		{"installation deep nesting in repositories", delivery{event: "installation", id: deliveryID, body: []byte(`{"action":"deleted","installation":{"id":2},"repositories":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`)}, 400, OutcomeInvalid},
		{"installation id overflows", delivery{event: "installation", id: deliveryID, body: edit(t, inst, `"id": 957387,`, `"id": 1e400,`)}, 400, OutcomeInvalid},
		{"installation id a fraction", delivery{event: "installation", id: deliveryID, body: edit(t, inst, `"id": 957387,`, `"id": 957387.5,`)}, 400, OutcomeInvalid},
		{"installation invalid utf-8", delivery{event: "installation", id: deliveryID, body: edit(t, inst, `"action": "created",`, "\"action\": \"created\xff\",")}, 400, OutcomeInvalid},
		{"installation negative id", delivery{event: "installation", id: deliveryID, body: edit(t, inst, `"id": 957387,`, `"id": -957387,`)}, 202, OutcomeInvalid},
		{"installation_repositories without an installation", delivery{event: "installation_repositories", id: deliveryID, body: []byte(`{"action":"removed","repositories_removed":[{"full_name":"a/b"}]}`)}, 202, OutcomeInvalid},
	}
	if len(cases) < 25 {
		t.Fatalf("only %d hostile cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hook := &hookRecorder{}
			f := newFixture(t, func(c *Config) { c.OnInstallation = hook.hook })
			var w *httpResult
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("panic: %v", p)
					}
				}()
				r := f.do(tc.d)
				w = &httpResult{code: r.Code, body: r.Body.String()}
			}()
			if w.code != tc.status {
				t.Errorf("status %d, want %d (%s)", w.code, tc.status, w.body)
			}
			if n := len(f.pub.messages()); n != 0 {
				t.Errorf("published %d messages", n)
			}
			if n := len(hook.changes()); n != 0 {
				t.Errorf("installation hook called %d times", n)
			}
			if got := f.count(eventLabel(tc.d.event), tc.outcome); got != 1 {
				t.Errorf("outcome %q not counted (log: %s)", tc.outcome, f.log.String())
			}
		})
	}
}

type httpResult struct {
	code int
	body string
}

// A Content-Length over the cap is refused before the body is read.
func TestContentLengthOverCap(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxBody = 1024 })
	d := delivery{event: "push", id: deliveryID, body: payload(t, "push/tag-create.drone.json")}
	r := d.request()
	r.Body = http.NoBody
	r.ContentLength = 2048
	w := &recorderWriter{header: http.Header{}}
	f.h.ServeHTTP(w, r)
	if w.code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d", w.code)
	}
	// And a body that lies about its length is cut by MaxBytesReader.
	r = d.request()
	r.ContentLength = -1
	w = &recorderWriter{header: http.Header{}}
	f.h.ServeHTTP(w, r)
	if w.code != http.StatusRequestEntityTooLarge || len(f.pub.messages()) != 0 {
		t.Fatalf("status %d", w.code)
	}
}

type recorderWriter struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *recorderWriter) Header() http.Header         { return w.header }
func (w *recorderWriter) Write(b []byte) (int, error) { return w.body.Write(b) }
func (w *recorderWriter) WriteHeader(code int)        { w.code = code }

// A huge commit list on the base branch still classifies: one promotion.
func TestHugeCommitList(t *testing.T) {
	f := newFixture(t, nil)
	w := f.do(delivery{event: "push", id: deliveryID, body: hugePush(t, 20000)})
	if w.Code != 202 || len(f.pub.messages()) != 1 || f.pub.messages()[0].Subject != "promobot.intents.jessesuen%2Ftest-repo.octo-app.staging" {
		t.Fatalf("status %d, %d messages", w.Code, len(f.pub.messages()))
	}
}
