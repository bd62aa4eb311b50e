package githubtest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func FuzzCheckCalls(f *testing.F) {
	seeds := []struct{ method, path, body string }{
		{"POST", "/api/v3/repos/o/r/pulls", `{"head":"a","base":"b"}`},
		{"GET", "/api/v3/repos/o/r/git/ref/heads/a/b", ""},
		{"POST", "/api/v3/repos/o/r/issues/1/labels", `["x"]`},
		{"PATCH", "/api/v3/repos/o/r/git/refs/heads/x", `{"sha":null}`},
		{"GET", "//api/v3//", "{"},
		{"DELETE", "/repos/{owner}/{repo}", "[]"},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.body)
	}
	f.Fuzz(func(t *testing.T, method, path, body string) {
		a := CheckCalls([]Call{{Method: method, Path: path, Body: []byte(body)}})
		b := CheckCalls([]Call{{Method: method, Path: path, Body: []byte(body)}})
		if len(a) != len(b) {
			t.Fatalf("non-deterministic: %v vs %v", a, b)
		}
	})
}

// FuzzCreateTree posts arbitrary bodies to POST git/trees: the server must
// answer 201, 400 or 422 with a JSON body, never panic or touch branches.
func FuzzCreateTree(f *testing.F) {
	for _, s := range []string{
		`{"tree":[{"path":"a/b/c.yaml","mode":"100644","type":"blob","content":"x"}]}`,
		`{"base_tree":"0000000000000000000000000000000000000000","tree":[]}`,
		`{"tree":[{"path":"README.md","mode":"100644","type":"blob","sha":null}]}`,
		`{"tree":[{"path":"../../etc","mode":"040000","type":"tree","sha":"0123"}]}`,
		`{"tree":[{"path":"a//b","mode":"100755","content":"#!/bin/sh"}]}`,
		`{"tree":null}`, `[]`, `{`,
	} {
		f.Add(s)
	}
	s, err := New(Config{Dir: f.TempDir(), StaticToken: testStatic})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(s.Close)
	if err := s.CreateRepo(testRepo, "main", map[string]string{"README.md": "x"}); err != nil {
		f.Fatal(err)
	}
	before := s.Branches(testRepo)["main"]
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/api/v3/repos/acme/gitops/git/trees", strings.NewReader(body))
		req.Header.Set("Authorization", "token "+testStatic)
		rec := httptest.NewRecorder()
		s.mux.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusCreated, http.StatusBadRequest, http.StatusUnprocessableEntity:
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if !strings.HasPrefix(rec.Body.String(), "{") {
			t.Fatalf("non-JSON answer %q", rec.Body)
		}
		if got := s.Branches(testRepo)["main"]; got != before {
			t.Fatalf("main moved to %s", got)
		}
		s.ResetCalls()
	})
}

func FuzzSplitPath(f *testing.F) {
	for _, s := range []string{"a/b/c", "../x", "a/./b", "/abs", "a/", ".git/config", "a\x00b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		parts, err := splitPath(p)
		if err != nil {
			return
		}
		if strings.Join(parts, "/") != p {
			t.Fatalf("split %q = %q", p, parts)
		}
		for _, s := range parts {
			if s == "" || s == "." || s == ".." || s == ".git" {
				t.Fatalf("accepted %q in %q", s, p)
			}
		}
	})
}
