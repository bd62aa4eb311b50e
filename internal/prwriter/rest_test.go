package prwriter_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-github/v60/github"

	"github.com/promobot/promobot/internal/prwriter"
)

// TestREST pins the request each adapter method sends and what it reads
// from the answer; the contract tests check GitHub's side of it.
func TestREST(t *testing.T) {
	var (
		mu   sync.Mutex
		line string
		body []byte
	)
	pr := `{"number":3,"html_url":"https://gh/pr/3","state":"open","head":{"sha":"h3"},"mergeable":true,"mergeable_state":"clean"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		line, body = r.Method+" "+strings.TrimPrefix(r.URL.Path, "/api/v3")+"?"+r.URL.RawQuery, b
		mu.Unlock()
		p := r.URL.Path
		switch {
		case strings.HasSuffix(p, "/git/blobs"), strings.HasSuffix(p, "/git/trees"), strings.HasSuffix(p, "/git/commits"):
			_, _ = io.WriteString(w, `{"sha":"s1"}`)
		case strings.Contains(p, "/git/ref"):
			_, _ = io.WriteString(w, `{"ref":"refs/heads/x","object":{"sha":"h1"}}`)
		case strings.HasSuffix(p, "/merge"):
			_, _ = io.WriteString(w, `{"merged":true}`)
		case strings.HasSuffix(p, "/pulls") && r.Method == http.MethodGet:
			_, _ = io.WriteString(w, "["+pr+"]")
		case strings.HasSuffix(p, "/labels"):
			_, _ = io.WriteString(w, `[]`)
		case strings.HasSuffix(p, "/comments") && r.Method == http.MethodGet:
			_, _ = io.WriteString(w, `[{"id":9,"body":"hi"}]`)
		case strings.Contains(p, "/comments"):
			_, _ = io.WriteString(w, `{"id":9,"body":"hi"}`)
		case strings.Contains(p, "/pulls"):
			_, _ = io.WriteString(w, pr)
		default:
			_, _ = io.WriteString(w, `{}`)
		}
	}))
	defer srv.Close()
	client, err := github.NewClient(nil).WithEnterpriseURLs(srv.URL+"/api/v3/", srv.URL+"/api/v3/")
	if err != nil {
		t.Fatal(err)
	}
	gh := prwriter.REST(client)
	ctx := context.Background()
	want := prwriter.PR{Number: 3, URL: "https://gh/pr/3", State: "open", HeadSHA: "h3", Mergeable: true, MergeableState: "clean"}

	for _, tc := range []struct {
		name string
		call func(repo string) (any, error)
		line string
		body string // JSON, compared by value; "" for none
		want any
	}{
		{"CreateBlob", func(repo string) (any, error) { return gh.CreateBlob(ctx, repo, []byte{0xff, 0}) },
			"POST /repos/acme/gitops/git/blobs?", `{"content":"/wA=","encoding":"base64"}`, "s1"},
		{"CreateTree", func(repo string) (any, error) {
			return gh.CreateTree(ctx, repo, "base", []prwriter.TreeEntry{{Path: "a", Content: ""}, {Path: "b", SHA: "blob"}, {Path: "c", Content: "#!", Mode: "100755"}})
		}, "POST /repos/acme/gitops/git/trees?",
			`{"base_tree":"base","tree":[{"path":"a","mode":"100644","type":"blob","content":""},{"path":"b","mode":"100644","type":"blob","sha":"blob"},{"path":"c","mode":"100755","type":"blob","content":"#!"}]}`, "s1"},
		{"CreateCommit", func(repo string) (any, error) { return gh.CreateCommit(ctx, repo, "msg", "t", "p") },
			"POST /repos/acme/gitops/git/commits?", `{"message":"msg","tree":"t","parents":["p"]}`, "s1"},
		{"CreateCommit with two parents", func(repo string) (any, error) { return gh.CreateCommit(ctx, repo, "msg", "t", "head", "base") },
			"POST /repos/acme/gitops/git/commits?", `{"message":"msg","tree":"t","parents":["head","base"]}`, "s1"},
		{"GetRef", func(repo string) (any, error) { return gh.GetRef(ctx, repo, "main") },
			"GET /repos/acme/gitops/git/ref/heads/main?", "", "h1"},
		{"CreateRef", func(repo string) (any, error) { return nil, gh.CreateRef(ctx, repo, "b", "s") },
			"POST /repos/acme/gitops/git/refs?", `{"ref":"refs/heads/b","sha":"s"}`, nil},
		{"UpdateRef", func(repo string) (any, error) { return nil, gh.UpdateRef(ctx, repo, "b", "s", true) },
			"PATCH /repos/acme/gitops/git/refs/heads/b?", `{"sha":"s","force":true}`, nil},
		{"UpdateRef unforced", func(repo string) (any, error) { return nil, gh.UpdateRef(ctx, repo, "main", "s", false) },
			"PATCH /repos/acme/gitops/git/refs/heads/main?", `{"sha":"s","force":false}`, nil},
		{"CreatePull", func(repo string) (any, error) {
			return gh.CreatePull(ctx, repo, prwriter.NewPull{Title: "t", Body: "b", Head: "h", Base: "main"})
		}, "POST /repos/acme/gitops/pulls?", `{"title":"t","body":"b","head":"h","base":"main","maintainer_can_modify":false}`, want},
		{"EditPull", func(repo string) (any, error) { return gh.EditPull(ctx, repo, 3, "t", "b") },
			"PATCH /repos/acme/gitops/pulls/3?", `{"title":"t","body":"b"}`, want},
		{"ListOpenPulls", func(repo string) (any, error) { return gh.ListOpenPulls(ctx, repo, "h", "main") },
			"GET /repos/acme/gitops/pulls?base=main&head=acme%3Ah&per_page=100&state=open", "", []prwriter.PR{want}},
		{"GetPull", func(repo string) (any, error) { return gh.GetPull(ctx, repo, 3) },
			"GET /repos/acme/gitops/pulls/3?", "", want},
		{"MergePull", func(repo string) (any, error) { return nil, gh.MergePull(ctx, repo, 3, "h3") },
			"PUT /repos/acme/gitops/pulls/3/merge?", `{"merge_method":"merge","sha":"h3"}`, nil},
		{"RequestReviewers", func(repo string) (any, error) {
			return nil, gh.RequestReviewers(ctx, repo, 3, []string{"alice"}, []string{"leads"})
		},
			"POST /repos/acme/gitops/pulls/3/requested_reviewers?", `{"reviewers":["alice"],"team_reviewers":["leads"]}`, nil},
		{"ListComments", func(repo string) (any, error) { return gh.ListComments(ctx, repo, 3) },
			"GET /repos/acme/gitops/issues/3/comments?per_page=100", "", []prwriter.Comment{{ID: 9, Body: "hi"}}},
		{"CreateComment", func(repo string) (any, error) { return gh.CreateComment(ctx, repo, 3, "hi") },
			"POST /repos/acme/gitops/issues/3/comments?", `{"body":"hi"}`, prwriter.Comment{ID: 9, Body: "hi"}},
		{"EditComment", func(repo string) (any, error) { return nil, gh.EditComment(ctx, repo, 9, "hi") },
			"PATCH /repos/acme/gitops/issues/comments/9?", `{"body":"hi"}`, nil},
		{"AddLabels", func(repo string) (any, error) { return nil, gh.AddLabels(ctx, repo, 3, []string{"promotion"}) },
			"POST /repos/acme/gitops/issues/3/labels?", `["promotion"]`, nil},
		{"CreateStatus", func(repo string) (any, error) {
			return nil, gh.CreateStatus(ctx, repo, "abc", prwriter.CommitStatus{State: "success", Context: "c", Description: "d", TargetURL: "u"})
		}, "POST /repos/acme/gitops/statuses/abc?", `{"state":"success","context":"c","description":"d","target_url":"u"}`, nil},
		{"CreateStatus without URL", func(repo string) (any, error) {
			return nil, gh.CreateStatus(ctx, repo, "abc", prwriter.CommitStatus{State: "failure", Context: "c", Description: "d"})
		}, "POST /repos/acme/gitops/statuses/abc?", `{"state":"failure","context":"c","description":"d"}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.call(repo)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
			mu.Lock()
			gotLine, gotBody := line, body
			line, body = "", nil
			mu.Unlock()
			if gotLine != tc.line {
				t.Errorf("request %q, want %q", gotLine, tc.line)
			}
			if tc.body != "" {
				var g, w any
				if err := json.Unmarshal(gotBody, &g); err != nil {
					t.Fatalf("body %s: %v", gotBody, err)
				}
				if err := json.Unmarshal([]byte(tc.body), &w); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(g, w) {
					t.Errorf("body %s, want %s", gotBody, tc.body)
				}
			}

			// A repository that is not owner/name never reaches GitHub.
			if _, err := tc.call("gitops"); err == nil || !strings.Contains(err.Error(), "invalid repository") {
				t.Errorf("invalid repository: err = %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if line != "" {
				t.Errorf("invalid repository sent %q", line)
			}
		})
	}
}
