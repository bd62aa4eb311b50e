package audit

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/promobot/promobot/internal/ghretry"
)

// maxReviewPages bounds how many pages of one pull request's reviews are
// read (100 reviews a page).
const maxReviewPages = 10

// REST answers Reviews with go-github.
type REST struct{ Client *github.Client }

// Approvers returns, sorted, the reviewers whose latest review (other than
// a comment) approved pull request pr of repo (owner/name).
func (r REST) Approvers(ctx context.Context, repo string, pr int) ([]string, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok {
		return nil, fmt.Errorf("repository %q is not owner/name", repo)
	}
	latest := map[string]string{}
	opt := &github.ListOptions{PerPage: 100}
	for page := 0; page < maxReviewPages; page++ {
		rvs, resp, err := r.Client.PullRequests.ListReviews(ctx, owner, name, pr, opt)
		if err != nil {
			return nil, fmt.Errorf("list reviews: %w", ghretry.Fate(err, time.Now()))
		}
		for _, rv := range rvs {
			if s := rv.GetState(); s != "COMMENTED" && s != "PENDING" && rv.GetUser().GetLogin() != "" {
				latest[rv.GetUser().GetLogin()] = s
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	var out []string
	for u, s := range latest {
		if s == "APPROVED" {
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return out, nil
}
