package webhook

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/promobot/promobot/internal/commands"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
	"github.com/promobot/promobot/internal/strictjson"
)

// RepoConfigs is the index of GitOps repositories' own configurations
// (.github/promobot.yaml) that workers keep as they read repositories; the
// webhook reads it and never the repositories themselves.
type RepoConfigs interface {
	// RepoConfigs returns every indexed repository's configuration merged
	// with server's policy, sorted by repository. The list is shared and
	// must not be changed.
	RepoConfigs(server *rules.Rules) []RepoConfig
}

// RepoConfig is one indexed repository.
type RepoConfig struct {
	Repo string
	// Rules decide for Repo alone; nil when the file does not load
	// (Invalid) or there is none (the server's rules decide).
	Rules   *rules.Rules
	Invalid bool
}

// ruleSets is what one delivery is classified with: the server's rules and
// the repositories' own configurations.
type ruleSets struct {
	server     *rules.Rules
	repos      []RepoConfig
	configPath string
}

func (h *Handler) ruleSets(server *rules.Rules) *ruleSets {
	s := &ruleSets{server: server, configPath: h.cfg.RepoConfigPath}
	if h.cfg.RepoConfigs != nil && server != nil {
		s.repos = h.cfg.RepoConfigs.RepoConfigs(server)
	}
	return s
}

// path is where repositories configure themselves.
func (s *ruleSets) path() string {
	if s.configPath == "" {
		return rules.DefaultRepoConfigPath
	}
	return s.configPath
}

func (s *ruleSets) lookup(repo string) (RepoConfig, bool) {
	for _, rc := range s.repos {
		if strings.EqualFold(rc.Repo, repo) {
			return rc, true
		}
	}
	return RepoConfig{}, false
}

// ownFile reports whether repo configures itself (a valid or invalid file).
func (s *ruleSets) ownFile(repo string) bool {
	rc, ok := s.lookup(repo)
	return ok && (rc.Rules != nil || rc.Invalid)
}

// forRepo returns the rules that decide for events of repo itself: its own
// configuration, else the server's. blocked: its configuration does not
// load, and it gets no intents but the configuration read.
func (s *ruleSets) forRepo(repo string) (rs *rules.Rules, blocked bool) {
	if rc, ok := s.lookup(repo); ok {
		switch {
		case rc.Rules != nil:
			return rc.Rules, false
		case rc.Invalid:
			return nil, true
		}
	}
	return s.server, false
}

// baseBranch is where repo's configuration is read: its own base branch,
// else the server's.
func (s *ruleSets) baseBranch(repo string) string {
	rs, _ := s.forRepo(repo)
	if rs == nil {
		rs = s.server
	}
	if rs != nil && rs.Defaults.BaseBranch != "" {
		return rs.Defaults.BaseBranch
	}
	return rules.DefaultBaseBranch
}

// handleSets is handle for a classifier that chooses among the rule sets.
func handleSets[E any](fn func(sets *ruleSets, d Delivery, ev *E, c *classification) error) classifier {
	dec := strictjson.NewDecoder[E]()
	return func(sets *ruleSets, d Delivery, c *classification) error {
		var ev E
		err := dec.Decode(d.Payload, &ev)
		// The order of decodeThen's errors.
		if err != nil && !errors.Is(err, strictjson.ErrType) {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if sets.server == nil {
			return errNoRules
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		return fn(sets, d, &ev, c)
	}
}

// eachSource classifies an event of a source repository (a build, a tag)
// with every rule set: the server's, whose intents for repositories that
// configure themselves are dropped, then each valid repository
// configuration in order. A configuration whose intents do not validate
// loses them alone. Intents are numbered in that order.
func (s *ruleSets) eachSource(d Delivery, c *classification, fn func(rs *rules.Rules) error) error {
	if err := fn(s.server); err != nil {
		return err
	}
	if len(s.repos) == 0 {
		return nil
	}
	c.intents = slices.DeleteFunc(c.intents, func(in intent.Intent) bool { return s.ownFile(in.Repo) })
	note := c.note
	for _, rc := range s.repos {
		if rc.Rules == nil {
			continue
		}
		n := len(c.intents)
		if err := fn(rc.Rules); err != nil {
			c.intents = c.intents[:n]
			note = fmt.Sprintf("%s: %v", rc.Repo, err)
		}
	}
	for i := range c.intents {
		c.intents[i].ID = intent.MsgID(d.ID, i)
		if err := c.intents[i].Validate(); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	if len(c.intents) == 0 {
		c.note = note
	}
	return nil
}

func classifyWorkflowRunSets(sets *ruleSets, d Delivery, ev *workflowRunEvent, c *classification) error {
	return sets.eachSource(d, c, func(rs *rules.Rules) error { return classifyWorkflowRun(rs, d, ev, c) })
}

// classifyPushSets: a tag is a source event; a branch push is the GitOps
// repository's own, classified with its rules, and asks a worker to read
// its configuration again when it changed the file on the base branch.
func classifyPushSets(sets *ruleSets, d Delivery, ev *pushEvent, c *classification) error {
	repo := ev.Repository.FullName
	branch, isBranch := strings.CutPrefix(ev.Ref, "refs/heads/")
	if isBranch && !ev.Deleted && branch == sets.baseBranch(repo) && validSHA(ev.After) && intent.ValidRepo(repo) &&
		(sets.ownFile(repo) || sets.server != nil && gitopsRepo(sets.server, repo)) {
		c.moved = &BranchMoved{Repo: repo, Branch: branch, After: ev.After}
	}
	if !isBranch || ev.Deleted || len(sets.repos) == 0 && !sets.mayConfigure(repo, branch) {
		if strings.HasPrefix(ev.Ref, "refs/tags/") && !ev.Deleted {
			return sets.eachSource(d, c, func(rs *rules.Rules) error { return classifyPush(rs, d, ev, c) })
		}
		return classifyPush(sets.server, d, ev, c)
	}
	c.setInstallation(ev.Installation.ID)
	c.repo = repo
	head, commits, err := changes(ev)
	if err != nil {
		return err
	}
	rs, blocked := sets.forRepo(repo)
	if blocked {
		c.note = "repository configuration invalid: no promotion until a push fixes it"
	} else if err := classifyBranchChanges(rs, d, c, ev, branch, head, commits); err != nil {
		return err
	}
	if branch == sets.baseBranch(repo) && slices.Contains(changedPaths(append(commits, head)), sets.path()) {
		switch {
		case !intent.ValidRepo(repo):
			return fmt.Errorf("%w: repository %q", ErrInvalid, repo)
		case !validSHA(ev.After):
			return fmt.Errorf("%w: after %q", ErrInvalid, ev.After)
		}
		c.intents = append(c.intents, intent.Intent{
			Kind: intent.KindConfig, DeliveryID: d.ID, Event: d.Event, InstallationID: c.installation,
			Repo: repo, Requester: ev.Sender.Login, CreatedAt: d.Received,
			Source: intent.SourceRef{
				Repo: repo, Ref: branch, CompareURL: ev.Compare, CommitURL: ev.HeadCommit.URL,
				CloneURL: ev.Repository.CloneURL, HTMLBase: htmlBase(ev.Repository.HTMLURL, repo),
				InstallationID: c.installation,
			},
		})
	}
	for i := range c.intents {
		c.intents[i].ID = intent.MsgID(d.ID, i)
	}
	return nil
}

// mayConfigure: without an index, a branch push still reads the changed
// paths when it could change a configuration (any repository's base
// branch): that is how a repository's first configuration is indexed.
func (s *ruleSets) mayConfigure(repo, branch string) bool {
	return branch == s.baseBranch(repo)
}

// classifyCommentSets: a command is classified with the repository's own
// rules; a repository with an invalid configuration gets no intent; one
// with no configuration at all is told, once, how to add one.
func classifyCommentSets(sets *ruleSets, d Delivery, ev *issueCommentEvent, c *classification) error {
	repo := ev.Repository.FullName
	rs, blocked := sets.forRepo(repo)
	switch {
	case blocked:
		c.setInstallation(ev.Installation.ID)
		c.action, c.repo = ev.Action, repo
		c.note = "repository configuration invalid: commands wait until a push fixes it"
		return nil
	case rs != nil && len(rs.ServicesIn(repo)) == 0 && !generates(rs, repo) && ev.Action == "created":
		return classifyUnconfigured(sets, d, ev, c)
	}
	return classifyComment(rs, d, ev, c)
}

// classifyUnconfigured answers a command in a repository that neither
// configures itself nor has services in the rules file with how to add a
// configuration. The worker checks the repository and replies once per
// repository.
func classifyUnconfigured(sets *ruleSets, d Delivery, ev *issueCommentEvent, c *classification) error {
	repo, user := ev.Repository.FullName, ev.Comment.User
	c.setInstallation(ev.Installation.ID)
	c.action, c.repo = ev.Action, repo
	switch {
	case isBot(user.Login, user.Type) || isBot(ev.Sender.Login, ev.Sender.Type):
		c.note = "comment by a bot"
		return nil
	case commands.Parse(ev.Comment.Body, sets.server, repo) == commands.Result{}:
		c.note = "not a gitops repository"
		return nil
	case !intent.ValidRepo(repo):
		return fmt.Errorf("%w: repository %q", ErrInvalid, repo)
	case ev.Comment.ID <= 0 || ev.Issue.Number <= 0 || ev.Issue.Number > 1<<31-1:
		return fmt.Errorf("%w: comment %d on #%d", ErrInvalid, ev.Comment.ID, ev.Issue.Number)
	case !validLogin(user.Login):
		return fmt.Errorf("%w: commenter %q", ErrInvalid, user.Login)
	}
	c.intents = append(c.intents, intent.Intent{
		ID: intent.MsgID(d.ID, 0), Kind: intent.KindNoConfig, DeliveryID: d.ID, Event: d.Event,
		InstallationID: c.installation, Repo: repo, Requester: user.Login, CreatedAt: d.Received,
		Reply: noConfigReply(sets.path()),
		Source: intent.SourceRef{
			Repo: repo, Issue: int(ev.Issue.Number), CommentID: ev.Comment.ID, CommentURL: ev.Comment.HTMLURL,
			Message: truncate(ev.Issue.Title, maxMessage), PRURL: ev.Issue.PullRequest.HTMLURL,
		},
	})
	return nil
}

// noConfigReply is the one answer to commands in a repository without
// configuration.
func noConfigReply(path string) string {
	return "promobot is installed on this repository, but nothing configures it yet, so it cannot act on commands here.\n\n" +
		"To promote from this repository, add `" + path + "` on its base branch with a pull request " +
		"(`version: 1` with `environments` and `services`, each service with its `image` and `targets`; " +
		"promobot checks the pull request against the organisation policy as `promobot/config`), " +
		"or ask the platform team to add its services to promobot's rules file.\n\n" +
		"_promobot answers this once per repository._"
}
