package prwriter

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/rules"
)

// GitHub refuses a whole review request with 422 when one user or team in
// it cannot review: a user who is not a collaborator, a team without
// access to the repository, the pull request's author. One such reviewer
// in the rules would otherwise fail every promotion to the environment for
// good. So a refused request is asked again one reviewer at a time, the
// accepted ones are kept, and one comment on the PR (found again by
// NoteMarker) names who could not be asked and why.

// NoteMarker starts promobot's comment about reviewers it could not
// request; there is at most one such comment on a PR, edited in place.
const NoteMarker = "<!-- promobot:reviewers -->"

// refusal is one reviewer GitHub would not ask.
type refusal struct {
	who  string // as the rules name it: "alice", "acme/leads"
	team bool
	why  string // for people
	said string // GitHub's answer, when it gave one
}

func names(rs []refusal) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.who)
	}
	return out
}

// requestReviewers asks want for a review on PR number and returns who
// GitHub refused. Teams are named org/slug by the rules; GitHub takes the
// slug and looks it up in the repository owner's organization, so a team
// of another organization is never sent (it would name a different team,
// or none).
func requestReviewers(ctx context.Context, gh GitHub, p *planner.Plan, number int, want rules.Principals) ([]refusal, error) {
	refused, err := askReviewers(ctx, gh, p, number, want)
	// In the order the rules name them: users, then teams.
	order := slices.Concat(want.Users, want.Teams)
	slices.SortStableFunc(refused, func(a, b refusal) int {
		return slices.Index(order, a.who) - slices.Index(order, b.who)
	})
	return refused, err
}

func askReviewers(ctx context.Context, gh GitHub, p *planner.Plan, number int, want rules.Principals) ([]refusal, error) {
	repo := p.Target.Repo
	owner, _, _ := split(repo)
	var refused []refusal
	users := slices.Clone(want.Users)
	var slugs, teams []string
	for _, t := range want.Teams {
		org, slug, ok := strings.Cut(t, "/")
		if !ok {
			org, slug = owner, t
		}
		if !strings.EqualFold(org, owner) {
			refused = append(refused, refusal{who: t, team: true,
				why: fmt.Sprintf("is a team of %s: GitHub asks only teams of %s, the repository's owner", org, owner)})
			continue
		}
		slugs, teams = append(slugs, slug), append(teams, t)
	}
	if len(users)+len(slugs) == 0 {
		return refused, nil
	}
	err := gh.RequestReviewers(ctx, repo, number, users, slugs)
	switch {
	case err == nil:
		return refused, nil
	case !ghretry.IsStatus(err, http.StatusUnprocessableEntity):
		return nil, fmt.Errorf("request reviewers on #%d: %w", number, ghretry.Fate(err, time.Now()))
	case len(users)+len(slugs) == 1:
		// GitHub's answer is about the one reviewer asked.
		if len(users) == 1 {
			return append(refused, explain(users[0], false, repo, owner, err)), nil
		}
		return append(refused, explain(teams[0], true, repo, owner, err)), nil
	}
	// GitHub does not say whom it refused: ask each alone.
	ask := func(who string, team bool, us, ts []string) error {
		err := gh.RequestReviewers(ctx, repo, number, us, ts)
		switch {
		case err == nil:
			return nil
		case ghretry.IsStatus(err, http.StatusUnprocessableEntity):
			refused = append(refused, explain(who, team, repo, owner, err))
			return nil
		}
		return fmt.Errorf("request review from %s on #%d: %w", who, number, ghretry.Fate(err, time.Now()))
	}
	for _, u := range users {
		if err := ask(u, false, []string{u}, nil); err != nil {
			return nil, err
		}
	}
	for i, slug := range slugs {
		if err := ask(teams[i], true, nil, []string{slug}); err != nil {
			return nil, err
		}
	}
	return refused, nil
}

// explain reads GitHub's refusal of a review request from who.
func explain(who string, team bool, repo, owner string, err error) refusal {
	said := githubMessage(err)
	low := strings.ToLower(said)
	r := refusal{who: who, team: team, said: said}
	switch {
	case strings.Contains(low, "pull request author"):
		r.why = "is the author of this pull request (the account promobot acts as): GitHub does not let authors review their own pull requests"
	case strings.Contains(low, "collaborator") && team:
		r.why = fmt.Sprintf("is not a team of %s with access to %s", owner, repo)
	case strings.Contains(low, "collaborator"):
		r.why = fmt.Sprintf("is not a collaborator of %s", repo)
	default:
		r.why = "GitHub refused to request a review"
	}
	return r
}

// askAgain asks the reviewers GitHub refused on the remembered PR again
// (those the rules still name), brings the PR's note up to date and
// remembers who is still refused.
func (w *Writer) askAgain(ctx context.Context, gh GitHub, p *planner.Plan, key string, rec PRRecord) ([]string, error) {
	var want rules.Principals
	for _, who := range rec.Unrequested {
		switch {
		case slices.Contains(p.Reviewers.Users, who):
			want.Users = append(want.Users, who)
		case slices.Contains(p.Reviewers.Teams, who):
			want.Teams = append(want.Teams, who)
		}
	}
	refused, err := requestReviewers(ctx, gh, p, rec.Number, want)
	if err != nil {
		return nil, err
	}
	if err := writeNote(ctx, gh, p, rec.Number, refused, len(refused) > 0); err != nil {
		return nil, err
	}
	still := names(refused)
	if !slices.Equal(still, rec.Unrequested) {
		rec.Unrequested = still
		if err := w.State.PutPR(ctx, key, rec); err != nil {
			return nil, fmt.Errorf("save pr state: %w", err)
		}
	}
	return still, nil
}

// writeNote makes PR number's reviewer note say refused: it edits the note
// when there is one (and it differs), or comments when create is set.
func writeNote(ctx context.Context, gh GitHub, p *planner.Plan, number int, refused []refusal, create bool) error {
	repo := p.Target.Repo
	body := noteBody(p, refused)
	cs, err := gh.ListComments(ctx, repo, number)
	if err != nil {
		return fmt.Errorf("read comments of #%d: %w", number, ghretry.Fate(err, time.Now()))
	}
	for _, c := range cs {
		if !strings.HasPrefix(c.Body, NoteMarker) {
			continue
		}
		if c.Body == body {
			return nil
		}
		err := gh.EditComment(ctx, repo, c.ID, body)
		if err == nil {
			return nil
		}
		if !ghretry.IsStatus(err, http.StatusNotFound) {
			return fmt.Errorf("edit the reviewer note on #%d: %w", number, ghretry.Fate(err, time.Now()))
		}
		break // deleted since it was listed
	}
	if !create {
		return nil
	}
	if _, err := gh.CreateComment(ctx, repo, number, body); err != nil {
		return fmt.Errorf("comment on #%d: %w", number, ghretry.Fate(err, time.Now()))
	}
	return nil
}

// noteBody is the reviewer note: who could not be asked for a review and
// why, or that everyone is asked now.
func noteBody(p *planner.Plan, refused []refusal) string {
	env, repo := p.Target.Env, p.Target.Repo
	var b strings.Builder
	b.WriteString(NoteMarker + "\n")
	if len(refused) == 0 {
		fmt.Fprintf(&b, "Every reviewer the rules name for **%s** is now requested.\n", env)
		return b.String()
	}
	fmt.Fprintf(&b, "**Not every reviewer could be requested.** The rules name these reviewers for **%s**, but GitHub would not ask them for a review:\n\n", env)
	b.WriteString("| Reviewer | Why |\n|---|---|\n")
	for _, r := range refused {
		fmt.Fprintf(&b, "| `@%s` | %s |\n", r.who, r.why)
	}
	fmt.Fprintf(&b, "\nThis pull request is open and labelled without them. Give them access to %s (a team needs access to the repository itself), "+
		"or change the reviewers of **%s** in the rules; promobot asks again when it next updates this pull request.\n", repo, env)
	var said []string
	for _, r := range refused {
		if r.said != "" {
			said = append(said, fmt.Sprintf("- `@%s`: %s", r.who, strings.ReplaceAll(r.said, "\n", " ")))
		}
	}
	if len(said) > 0 {
		b.WriteString("\n<details><summary>What GitHub answered</summary>\n\n" + strings.Join(said, "\n") + "\n\n</details>\n")
	}
	return b.String()
}
