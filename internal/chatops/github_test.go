package chatops_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"

	"github.com/google/go-github/v60/github"

	"github.com/promobot/promobot/internal/chatops"
	"github.com/promobot/promobot/internal/ghretry"
)

// restGitHub serves the few endpoints REST calls, as GitHub answers them.
func restGitHub(t *testing.T) chatops.GitHub {
	t.Helper()
	mux := http.NewServeMux()
	reply := func(pattern, body string) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, body)
		})
	}
	reply("GET /repos/acme/gitops/collaborators/bob/permission", `{"permission":"write"}`)
	reply("GET /orgs/acme/teams/leads/memberships/bob", `{"state":"active"}`)
	reply("POST /repos/acme/gitops/issues/comments/7/reactions", `{"id":1,"content":"eyes"}`)
	reply("GET /repos/acme/gitops/pulls/5", `{"number":5,"body":"b","merged":true,"user":{"type":"Bot"},
		"head":{"ref":"promobot/prod/web","repo":{"full_name":"acme/gitops"}}}`)
	mux.HandleFunc("GET /repos/acme/gitops/pulls/5/files", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("per_page") != "100" {
			t.Errorf("files listed %s per page", r.URL.Query().Get("per_page"))
		}
		if r.URL.Query().Get("page") == "" {
			w.Header().Set("Link", fmt.Sprintf(`<http://%s%s?page=2>; rel="next"`, r.Host, r.URL.Path))
		}
		fmt.Fprintf(w, `[{"filename":"page%s.yaml"}]`, r.URL.Query().Get("page"))
	})
	reply("GET /repos/acme/gitops/issues/5/comments", `[{"id":11,"body":"hi","user":{"type":"User"}}]`)
	mux.HandleFunc("POST /repos/acme/gitops/issues/5/comments", func(w http.ResponseWriter, r *http.Request) {
		if b, _ := io.ReadAll(r.Body); string(b) != `{"body":"new"}`+"\n" {
			t.Errorf("created %s", b)
		}
		fmt.Fprint(w, `{"id":12}`)
	})
	mux.HandleFunc("PATCH /repos/acme/gitops/issues/comments/12", func(w http.ResponseWriter, r *http.Request) {
		if b, _ := io.ReadAll(r.Body); string(b) != `{"body":"edited"}`+"\n" {
			t.Errorf("edited to %s", b)
		}
		fmt.Fprint(w, `{"id":12}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c := github.NewClient(srv.Client())
	c.BaseURL, _ = url.Parse(srv.URL + "/")
	return chatops.REST(c)
}

func TestREST(t *testing.T) {
	ctx := context.Background()
	gh := restGitHub(t)
	check := func(what string, got, want any, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		} else if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", what, got, want)
		}
	}
	perm, err := gh.Permission(ctx, "acme/gitops", "bob")
	check("permission", perm, "write", err)
	state, err := gh.TeamMembership(ctx, "acme", "leads", "bob")
	check("membership", state, "active", err)
	check("react", nil, nil, gh.React(ctx, "acme/gitops", 7, "eyes"))
	pr, err := gh.PullRequest(ctx, "acme/gitops", 5)
	check("pull request", pr, chatops.PullRequest{Body: "b", Merged: true, UserType: "Bot", HeadRef: "promobot/prod/web", HeadRepo: "acme/gitops"}, err)
	files, next, err := gh.PullRequestFiles(ctx, "acme/gitops", 5, 0)
	check("files", []any{files, next}, []any{[]string{"page.yaml"}, 2}, err)
	files, next, err = gh.PullRequestFiles(ctx, "acme/gitops", 5, 2)
	check("files page 2", []any{files, next}, []any{[]string{"page2.yaml"}, 0}, err)
	cs, next, err := gh.IssueComments(ctx, "acme/gitops", 5, 0)
	check("comments", []any{cs, next}, []any{[]chatops.Comment{{ID: 11, Body: "hi", UserType: "User"}}, 0}, err)
	id, err := gh.CreateComment(ctx, "acme/gitops", 5, "new")
	check("create", id, int64(12), err)
	check("edit", nil, nil, gh.EditComment(ctx, "acme/gitops", 12, "edited"))
}

// GitHub's errors come back as they are, so callers can read their status.
func TestRESTErrors(t *testing.T) {
	ctx := context.Background()
	gh := restGitHub(t)
	for name, call := range map[string]func() error{
		"permission": func() error { _, err := gh.Permission(ctx, "acme/gitops", "eve"); return err },
		"membership": func() error { _, err := gh.TeamMembership(ctx, "acme", "leads", "eve"); return err },
		"react":      func() error { return gh.React(ctx, "acme/gitops", 8, "eyes") },
		"pr":         func() error { _, err := gh.PullRequest(ctx, "acme/gitops", 6); return err },
		"files":      func() error { _, _, err := gh.PullRequestFiles(ctx, "acme/gitops", 6, 0); return err },
		"comments":   func() error { _, _, err := gh.IssueComments(ctx, "acme/gitops", 6, 0); return err },
		"create":     func() error { _, err := gh.CreateComment(ctx, "acme/gitops", 6, "new"); return err },
		"edit":       func() error { return gh.EditComment(ctx, "acme/gitops", 13, "edited") },
	} {
		if err := call(); !ghretry.IsStatus(err, http.StatusNotFound) {
			t.Errorf("%s: error = %v, want GitHub's 404", name, err)
		}
	}
}
