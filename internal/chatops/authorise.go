package chatops

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

// A function below that may refuse returns the reason as a string: empty
// means go on. A refusal is an answer to the requester, not a failure, so
// it never travels as an error.

// permitted checks the commenter's repository permission: write, maintain
// or admin.
func permitted(ctx context.Context, gh GitHub, in intent.Intent) (refusal string, err error) {
	perm, err := gh.Permission(ctx, in.Repo, in.Requester)
	if ghretry.IsStatus(err, http.StatusNotFound) {
		return fmt.Sprintf("`%s` has no access to %s; promoting needs write permission", in.Requester, in.Repo), nil
	}
	if err != nil {
		return "", fmt.Errorf("permission of %s: %w", in.Requester, ghretry.Fate(err, time.Now()))
	}
	switch perm {
	case "admin", "write", "maintain":
		return "", nil
	}
	return fmt.Sprintf("`%s` has %s permission on %s; promoting needs write, maintain or admin", in.Requester, orNone(perm), in.Repo), nil
}

// promoters checks, for each service the command moves, that the commenter
// is one of the target environment's promoters when it names any.
func promoters(ctx context.Context, gh GitHub, rs *rules.Rules, in intent.Intent, subs []intent.Intent) (refusal string, err error) {
	for _, sub := range subs {
		svc := sub.Services[0]
		env, ok := rs.Env(svc, in.To)
		if !ok {
			return fmt.Sprintf("`%s` has no environment `%s`", svc, in.To), nil
		}
		if env.Promoters.Empty() {
			continue
		}
		ok, err := isPromoter(ctx, gh, env.Promoters, in.Requester)
		if err != nil {
			return "", err
		}
		if !ok {
			return fmt.Sprintf("only %s may promote %s to %s", principals(env.Promoters), svc, in.To), nil
		}
	}
	return "", nil
}

// isPromoter reports whether user is one of p's users or an active member
// of one of its teams.
func isPromoter(ctx context.Context, gh GitHub, p rules.Principals, user string) (bool, error) {
	for _, u := range p.Users {
		if strings.EqualFold(u, user) {
			return true, nil
		}
	}
	for _, t := range p.Teams {
		org, slug, _ := strings.Cut(t, "/")
		state, err := gh.TeamMembership(ctx, org, slug, user)
		if ghretry.IsStatus(err, http.StatusNotFound) {
			continue // GitHub's way of saying "not a member"
		}
		if err != nil {
			return false, fmt.Errorf("membership of %s in %s: %w", user, t, ghretry.Fate(err, time.Now()))
		}
		if state == "active" {
			return true, nil
		}
	}
	return false, nil
}

func principals(p rules.Principals) string {
	var out []string
	for _, u := range p.Users {
		out = append(out, "@"+u)
	}
	for _, t := range p.Teams {
		out = append(out, "@"+t)
	}
	return strings.Join(out, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "no"
	}
	return s
}

// react puts 👀 on the command: accepted, working on it.
func react(ctx context.Context, gh GitHub, in intent.Intent) error {
	if err := gh.React(ctx, in.Repo, in.Source.CommentID, "eyes"); err != nil {
		return fmt.Errorf("react to comment %d: %w", in.Source.CommentID, ghretry.Fate(err, time.Now()))
	}
	return nil
}
