package chatops

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/rules"
)

// maxFilePages bounds the pages of a pull request's files read: GitHub
// lists at most 3000 files, 30 pages of 100.
const maxFilePages = 30

// services turns a command into one intent per service. Without named
// services: on a promobot PR, the services it promotes (and, once merged,
// the tags it promoted); on another PR, the services whose files it
// changed; on an issue, a refusal that lists the services.
func (c *Commands) services(ctx context.Context, gh GitHub, rs *rules.Rules, in intent.Intent) (subs []intent.Intent, refusal string, err error) {
	type want struct{ service, tag string }
	var wants []want
	for _, s := range in.Services {
		wants = append(wants, want{s, in.Tag})
	}
	if len(wants) == 0 {
		if in.Source.PRURL == "" {
			return nil, "name the services on an issue: " + serviceList(rs, in.Repo), nil
		}
		pr, err := gh.PullRequest(ctx, in.Repo, in.Source.Issue)
		if err != nil {
			return nil, "", fmt.Errorf("get pull request #%d: %w", in.Source.Issue, ghretry.Fate(err, time.Now()))
		}
		// Only promobot's own PRs carry metadata that counts: a contributor
		// (or another bot) could paste a block into any PR body.
		md, ok := planner.ParseMetadata(pr.Body)
		if ok {
			ours, err := c.ours(ctx)
			if err != nil {
				return nil, "", err
			}
			ok = ours(pr.User, pr.UserType) && strings.HasPrefix(pr.HeadRef, "promobot/") && strings.EqualFold(pr.HeadRepo, in.Repo)
		}
		if ok && strings.EqualFold(md.Repo, in.Repo) {
			seen := map[string]bool{}
			for _, svc := range md.Services {
				if !seen[svc.Name] {
					seen[svc.Name] = true
					tag := in.Tag
					if tag == "" && pr.Merged {
						tag = svc.To
					}
					wants = append(wants, want{svc.Name, tag})
				}
			}
		} else {
			paths, err := changedFiles(ctx, gh, in)
			if err != nil {
				return nil, "", err
			}
			seen := map[string]bool{}
			for _, se := range rs.Touched(in.Repo, paths) {
				if !seen[se.Service.Name] {
					seen[se.Service.Name] = true
					wants = append(wants, want{se.Service.Name, in.Tag})
				}
			}
		}
		if len(wants) == 0 {
			return nil, "this pull request changes no service's files; name the services: " + serviceList(rs, in.Repo), nil
		}
	}
	subs = make([]intent.Intent, 0, len(wants))
	for _, wt := range wants {
		sub := in
		sub.Services, sub.Tag = []string{wt.service}, wt.tag
		if err := sub.Validate(); err != nil {
			return nil, err.Error(), nil
		}
		subs = append(subs, sub)
	}
	return subs, "", nil
}

// changedFiles lists the paths the command's pull request changes.
func changedFiles(ctx context.Context, gh GitHub, in intent.Intent) ([]string, error) {
	var paths []string
	for page, n := 0, 0; n < maxFilePages; n++ {
		ps, next, err := gh.PullRequestFiles(ctx, in.Repo, in.Source.Issue, page)
		if err != nil {
			return nil, fmt.Errorf("list files of #%d: %w", in.Source.Issue, ghretry.Fate(err, time.Now()))
		}
		paths = append(paths, ps...)
		if next == 0 {
			break
		}
		page = next
	}
	return paths, nil
}

func serviceList(rs *rules.Rules, repo string) string {
	var names []string
	for _, s := range rs.ServicesIn(repo) {
		names = append(names, "`"+s.Name+"`")
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "no services are configured for " + repo
	}
	return strings.Join(names, ", ")
}
