package webhook

import (
	"fmt"
	"slices"
	"strings"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
	"github.com/promobot/promobot/internal/strictjson"
)

// pushEvent is what classification reads of a push delivery; the names
// follow the payload's. A push has no "action". The lists of changed paths
// are kept undecoded: only a branch push to a GitOps repository reads them,
// and a push may list thousands of commits.
type pushEvent struct {
	Installation installation `json:"installation"`
	Ref          string       `json:"ref"`
	After        string       `json:"after"`
	Compare      string       `json:"compare"`
	Deleted      bool         `json:"deleted"`
	Repository   struct {
		FullName string `json:"full_name"`
		HTMLURL  string `json:"html_url"`
		CloneURL string `json:"clone_url"`
	} `json:"repository"`
	Sender     login `json:"sender"`
	HeadCommit struct {
		ID       string           `json:"id"`
		Message  string           `json:"message"`
		URL      string           `json:"url"`
		Added    strictjson.Array `json:"added"`
		Modified strictjson.Array `json:"modified"`
		Removed  strictjson.Array `json:"removed"`
	} `json:"head_commit"`
	Commits strictjson.Array `json:"commits"`
}

// commit is one entry of a push's commits list.
type commit struct {
	Message  string   `json:"message"`
	Added    []string `json:"added"`
	Modified []string `json:"modified"`
	Removed  []string `json:"removed"`
}

// classifyPush handles tag pushes (a release of a service's source) and
// branch pushes to a GitOps repository (a changed environment that may be
// promoted onwards).
func classifyPush(rs *rules.Rules, d Delivery, ev *pushEvent, c *classification) error {
	c.setInstallation(ev.Installation.ID)
	c.repo = ev.Repository.FullName
	if ev.Deleted {
		c.note = "ref deleted"
		return nil
	}
	if tag, ok := strings.CutPrefix(ev.Ref, "refs/tags/"); ok {
		return classifyTagPush(rs, d, c, ev, tag)
	}
	if branch, ok := strings.CutPrefix(ev.Ref, "refs/heads/"); ok {
		return classifyBranchPush(rs, d, c, ev, branch)
	}
	c.note = "push to a ref that is neither a branch nor a tag"
	return nil
}

func classifyTagPush(rs *rules.Rules, d Delivery, c *classification, ev *pushEvent, tag string) error {
	if !intent.ValidTag(tag) {
		// Only a warning when the repository builds a service; any other
		// repository may name its tags as it likes.
		if isSourceRepo(rs, c.repo) {
			return fmt.Errorf("%w: tag %q is not an OCI tag", ErrInvalid, tag)
		}
		c.note = "tag in a repository that builds no service"
		return nil
	}
	services := rs.MatchTag(c.repo, tag)
	if len(services) == 0 {
		c.note = "no service builds from this tag"
		return nil
	}
	// The commit is head_commit.id: for an annotated tag, "after" names the
	// tag object, on which no commit status can be set. Without a head
	// commit, "after" is all there is (a lightweight tag names the commit).
	sha, field := ev.HeadCommit.ID, "head_commit.id"
	if sha == "" {
		sha, field = ev.After, "after"
	}
	switch {
	case !intent.ValidRepo(c.repo):
		return fmt.Errorf("%w: repository %q", ErrInvalid, c.repo)
	case !validSHA(sha):
		return fmt.Errorf("%w: %s %q", ErrInvalid, field, sha)
	}
	commitLink := ev.HeadCommit.URL
	if commitLink == "" {
		commitLink = commitURL(ev.Repository.HTMLURL, sha)
	}
	src := intent.SourceRef{
		Repo:           c.repo,
		SHA:            sha,
		Ref:            tag,
		Message:        truncate(ev.HeadCommit.Message, maxMessage),
		CommitURL:      commitLink,
		CompareURL:     ev.Compare,
		HTMLBase:       htmlBase(ev.Repository.HTMLURL, c.repo),
		InstallationID: c.installation,
	}
	for _, svc := range services {
		in := newIntent(d, c, intent.KindUpdate, svc)
		in.To = rs.First(svc)
		in.Tag = tag
		in.Requester = ev.Sender.Login
		in.Ticket = rs.FindTicket(svc.Name, in.To, ev.HeadCommit.Message)
		in.Source = src
		c.intents = append(c.intents, in)
	}
	return nil
}

// classifyBranchPush promotes environment N to N+1 when a push to the GitOps
// repository's base branch changed a file of N and N+1 is automatic. The
// webhook cannot see whether the tag itself changed (it reads no
// repository); the planner skips when N+1 already runs what N runs.
//
// Limitation: GitHub lists at most 2048 commits in a push delivery (and
// "size"/"distinct_size" may exceed the list), each with its changed paths;
// a file changed only in an unlisted commit is missed here. Pushes of that
// size to a GitOps base branch are rare; a later push or /promote catches up.
func classifyBranchPush(rs *rules.Rules, d Delivery, c *classification, ev *pushEvent, branch string) error {
	if len(rs.ServicesIn(c.repo)) == 0 && !generates(rs, c.repo) {
		c.note = "not a gitops repository"
		return nil
	}
	head, commits, err := changes(ev)
	if err != nil {
		return err
	}
	return classifyBranchChanges(rs, d, c, ev, branch, head, commits)
}

// classifyBranchChanges is classifyBranchPush once the changed paths are read.
func classifyBranchChanges(rs *rules.Rules, d Delivery, c *classification, ev *pushEvent, branch string, head commit, commits []commit) error {
	if len(rs.ServicesIn(c.repo)) == 0 && !generates(rs, c.repo) {
		c.note = "not a gitops repository"
		return nil
	}
	paths := changedPaths(append(commits, head))
	// Generated services are known from the changed paths alone: the
	// webhook never lists the repository.
	rs = guessPaths(rs, c.repo, paths)
	touched := rs.Touched(c.repo, paths)
	if len(touched) == 0 {
		c.note = "no environment file changed"
		return nil
	}
	msg := ev.HeadCommit.Message
	texts := []string{msg}
	for _, cm := range commits {
		texts = append(texts, cm.Message)
	}
	for _, te := range touched {
		if te.Service == nil {
			continue
		}
		settings, ok := rs.Env(te.Service.Name, te.Env)
		if !ok || branch != settings.BaseBranch {
			continue
		}
		next, ok := rs.Next(te.Service, te.Env)
		if !ok {
			continue
		}
		if ns, ok := rs.Env(te.Service.Name, next); !ok || !ns.Auto {
			continue
		}
		in := newIntent(d, c, intent.KindPromote, te.Service)
		in.From = te.Env
		in.To = next
		in.Requester = ev.Sender.Login
		in.Ticket = rs.FindTicket(te.Service.Name, next, texts...)
		in.Source = intent.SourceRef{
			Repo:       c.repo,
			SHA:        ev.After,
			Ref:        branch,
			Message:    truncate(msg, maxMessage),
			CompareURL: ev.Compare,
			CommitURL:  ev.HeadCommit.URL,
			CloneURL:   ev.Repository.CloneURL,
			HTMLBase:   htmlBase(ev.Repository.HTMLURL, c.repo),
			// The GitOps repository's own push: its installation.
			InstallationID: c.installation,
		}
		c.intents = append(c.intents, in)
	}
	if len(c.intents) == 0 {
		c.note = "no automatic promotion follows the changed environments"
		return nil
	}
	c.intents = group(d, rs, c.intents)
	switch sha := ev.After; {
	case !intent.ValidRepo(c.repo):
		return fmt.Errorf("%w: repository %q", ErrInvalid, c.repo)
	case !validSHA(sha):
		return fmt.Errorf("%w: after %q", ErrInvalid, sha)
	}
	return nil
}

// changes decodes the head commit's and the listed commits' changed paths
// (and the commits' messages, searched for ticket keys).
func changes(ev *pushEvent) (head commit, commits []commit, err error) {
	hc := &ev.HeadCommit
	for _, e := range []error{
		hc.Added.Decode(&head.Added),
		hc.Modified.Decode(&head.Modified),
		hc.Removed.Decode(&head.Removed),
		ev.Commits.Decode(&commits),
	} {
		if e != nil {
			return head, nil, fmt.Errorf("%w: %w", ErrMalformed, e)
		}
	}
	return head, commits, nil
}

// changedPaths returns every path added, modified or removed by the
// commits, deduplicated and sorted.
func changedPaths(commits []commit) []string {
	seen := map[string]struct{}{}
	for _, cm := range commits {
		for _, list := range [][]string{cm.Added, cm.Modified, cm.Removed} {
			for _, p := range list {
				seen[p] = struct{}{}
			}
		}
	}
	paths := make([]string, 0, len(seen))
	for p := range seen {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	return paths
}

func isSourceRepo(rs *rules.Rules, repo string) bool {
	for i := range rs.Services {
		if s := rs.Services[i].Source; s != nil && strings.EqualFold(s.Repo, repo) {
			return true
		}
	}
	return false
}
