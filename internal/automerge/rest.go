package automerge

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/go-github/v60/github"
	"github.com/shurcooL/githubv4"

	"github.com/promobot/promobot/internal/fate"
)

// REST adapts a go-github client (its base URL and authenticated HTTP
// client) to GitHub; GraphQL goes to the endpoint GraphQLURL derives.
func REST(gh *github.Client) GitHub {
	return rest{gh: gh, v4: githubv4.NewEnterpriseClient(GraphQLURL(gh.BaseURL), gh.Client())}
}

// GraphQLURL is the GraphQL endpoint of the REST API at base:
// https://api.github.com/ → https://api.github.com/graphql, a GitHub
// Enterprise Server's https://HOST/api/v3/ → https://HOST/api/graphql.
func GraphQLURL(base *url.URL) string {
	if base == nil {
		return "https://api.github.com/graphql"
	}
	u := *base
	p := strings.TrimSuffix(u.Path, "/")
	if strings.HasSuffix(p, "/api/v3") {
		p = strings.TrimSuffix(p, "/v3")
	}
	u.Path = p + "/graphql"
	u.RawPath = ""
	return u.String()
}

type rest struct {
	gh *github.Client
	v4 *githubv4.Client
}

func split(repo string) (owner, name string, err error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" {
		return "", "", fate.Terminalf("invalid repository %q", repo)
	}
	return owner, name, nil
}

func (r rest) Settings(ctx context.Context, repo string) (Settings, error) {
	owner, name, err := split(repo)
	if err != nil {
		return Settings{}, err
	}
	rp, _, err := r.gh.Repositories.Get(ctx, owner, name)
	if err != nil {
		return Settings{}, err
	}
	s := Settings{AllowAutoMerge: rp.GetAllowAutoMerge()}
	// A token that cannot see the settings gets none of the fields: the
	// methods stay empty and GitHub's default (merge) is used.
	if rp.GetAllowMergeCommit() {
		s.Methods = append(s.Methods, "merge")
	}
	if rp.GetAllowSquashMerge() {
		s.Methods = append(s.Methods, "squash")
	}
	if rp.GetAllowRebaseMerge() {
		s.Methods = append(s.Methods, "rebase")
	}
	return s, nil
}

func (r rest) Pull(ctx context.Context, repo string, number int) (Pull, error) {
	owner, name, err := split(repo)
	if err != nil {
		return Pull{}, err
	}
	pr, _, err := r.gh.PullRequests.Get(ctx, owner, name, number)
	if err != nil {
		return Pull{}, err
	}
	return Pull{
		Number: pr.GetNumber(), NodeID: pr.GetNodeID(), State: pr.GetState(), Merged: pr.GetMerged(),
		HeadSHA: pr.GetHead().GetSHA(), Mergeable: pr.Mergeable, MergeableState: pr.GetMergeableState(),
		AutoMerge: pr.AutoMerge != nil,
		Body:      pr.GetBody(), UserType: pr.GetUser().GetType(),
		HeadRef: pr.GetHead().GetRef(), HeadRepo: pr.GetHead().GetRepo().GetFullName(),
	}, nil
}

func (r rest) EnableAutoMerge(ctx context.Context, pullID, method string) error {
	var m struct {
		EnablePullRequestAutoMerge struct {
			PullRequest struct {
				Number githubv4.Int
			}
		} `graphql:"enablePullRequestAutoMerge(input: $input)"`
	}
	mm := githubv4.PullRequestMergeMethod(strings.ToUpper(method))
	err := r.v4.Mutate(ctx, &m, githubv4.EnablePullRequestAutoMergeInput{PullRequestID: githubv4.ID(pullID), MergeMethod: &mm}, nil)
	return graphQLFate(err)
}

var non200 = regexp.MustCompile(`^non-200 OK status code: (\d{3})`)

// graphQLFate turns the GraphQL client's errors into *APIError (GitHub
// answered and said no) or marked transport errors.
func graphQLFate(err error) error {
	if err == nil {
		return nil
	}
	if t := reflect.TypeOf(err); t.PkgPath() == "github.com/shurcooL/graphql" && t.Name() == "errors" {
		return &APIError{Message: err.Error()}
	}
	if m := non200.FindStringSubmatch(err.Error()); m != nil {
		code, _ := strconv.Atoi(m[1])
		switch {
		case code == http.StatusUnauthorized, code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
			return fmt.Errorf("github graphql: %w", err)
		default:
			return fate.MarkTerminal(fmt.Errorf("github graphql: %w", err))
		}
	}
	return fmt.Errorf("github graphql: %w", err)
}

func (r rest) Merge(ctx context.Context, repo string, number int, headSHA, method string) error {
	owner, name, err := split(repo)
	if err != nil {
		return err
	}
	_, _, err = r.gh.PullRequests.Merge(ctx, owner, name, number, "", &github.PullRequestOptions{SHA: headSHA, MergeMethod: method})
	return err
}

func (r rest) ListComments(ctx context.Context, repo string, number int) ([]Comment, error) {
	owner, name, err := split(repo)
	if err != nil {
		return nil, err
	}
	var out []Comment
	opt := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for page := 0; page < 100; page++ {
		cs, resp, err := r.gh.Issues.ListComments(ctx, owner, name, number, opt)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			out = append(out, Comment{ID: c.GetID(), Body: c.GetBody()})
		}
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	return out, nil
}

func (r rest) CreateComment(ctx context.Context, repo string, number int, body string) error {
	owner, name, err := split(repo)
	if err != nil {
		return err
	}
	_, _, err = r.gh.Issues.CreateComment(ctx, owner, name, number, &github.IssueComment{Body: &body})
	return err
}
