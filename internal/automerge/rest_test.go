package automerge_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"

	"github.com/promobot/promobot/internal/automerge"
	"github.com/promobot/promobot/internal/fate"
)

// TestEnableAutoMergeOverGraphQL sends GitHub's mutation to the endpoint
// derived from the REST URL and reads GitHub's answers.
func TestEnableAutoMergeOverGraphQL(t *testing.T) {
	tests := []struct {
		name   string
		status int
		answer string
		check  func(t *testing.T, err error)
	}{
		{"enabled", 200, `{"data":{"enablePullRequestAutoMerge":{"pullRequest":{"number":1}}}}`, func(t *testing.T, err error) {
			if err != nil {
				t.Fatal(err)
			}
		}},
		{"clean status", 200, `{"data":{"enablePullRequestAutoMerge":null},"errors":[{"type":"UNPROCESSABLE","path":["enablePullRequestAutoMerge"],"message":"Pull request Pull request is in clean status"}]}`, func(t *testing.T, err error) {
			var api *automerge.APIError
			if !errors.As(err, &api) || !strings.Contains(api.Message, "clean status") {
				t.Fatalf("err = %v, want an APIError naming clean status", err)
			}
		}},
		{"forbidden", 403, `{"message":"Resource not accessible by integration"}`, func(t *testing.T, err error) {
			if !fate.IsTerminal(err) {
				t.Fatalf("err = %v, want terminal", err)
			}
		}},
		{"server error", 502, `bad gateway`, func(t *testing.T, err error) {
			if err == nil || fate.IsTerminal(err) {
				t.Fatalf("err = %v, want retryable", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got struct {
				Query     string
				Variables map[string]map[string]string
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/api/graphql" || r.Method != http.MethodPost {
					t.Errorf("%s %s, want POST /api/graphql", r.Method, r.URL.Path)
				}
				b, _ := io.ReadAll(r.Body)
				if err := json.Unmarshal(b, &got); err != nil {
					t.Errorf("request body %s: %v", b, err)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.answer)
			}))
			defer srv.Close()
			c := github.NewClient(srv.Client())
			c.BaseURL, _ = url.Parse(srv.URL + "/api/v3/")
			err := automerge.REST(c).EnableAutoMerge(context.Background(), "PR_kwDO", "squash")
			tt.check(t, err)
			if !strings.Contains(got.Query, "enablePullRequestAutoMerge(input: $input)") ||
				got.Variables["input"]["pullRequestId"] != "PR_kwDO" || got.Variables["input"]["mergeMethod"] != "SQUASH" {
				t.Errorf("sent %+v", got)
			}
		})
	}
}
