package webhook

import (
	"fmt"
	"strings"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

// workflowRunEvent is what classification reads of a workflow_run
// delivery; the names follow the payload's.
type workflowRunEvent struct {
	Action       string       `json:"action"`
	Installation installation `json:"installation"`
	Repository   struct {
		FullName string `json:"full_name"`
		HTMLURL  string `json:"html_url"`
	} `json:"repository"`
	Sender   login `json:"sender"`
	Workflow struct {
		Path string `json:"path"`
	} `json:"workflow"`
	WorkflowRun struct {
		Conclusion   string `json:"conclusion"`
		HeadBranch   string `json:"head_branch"`
		HeadSHA      string `json:"head_sha"`
		Path         string `json:"path"`
		HTMLURL      string `json:"html_url"`
		RunNumber    int64  `json:"run_number"`
		DisplayTitle string `json:"display_title"`
		HeadCommit   struct {
			Message string `json:"message"`
		} `json:"head_commit"`
		Event          string   `json:"event"`
		HeadRepository repoName `json:"head_repository"`
	} `json:"workflow_run"`
}

// login is the part of a user object (sender, commenter) read for intents.
type login struct {
	Login string `json:"login"`
}

// classifyWorkflowRun: a successful build of a service's source updates
// the service's first environment to the tag the build produced, rendered
// from the service's tag template.
func classifyWorkflowRun(rs *rules.Rules, d Delivery, ev *workflowRunEvent, c *classification) error {
	run := &ev.WorkflowRun
	c.setInstallation(ev.Installation.ID)
	c.action = ev.Action
	c.repo = ev.Repository.FullName
	if c.action != "completed" || run.Conclusion != "success" {
		c.note = fmt.Sprintf("workflow run %s/%s", c.action, run.Conclusion)
		return nil
	}
	// A pull request's build runs code from its head, possibly a fork whose
	// branch is also called "main": it never produces a deployable tag.
	switch headRepo := run.HeadRepository.FullName; {
	case run.Event == "pull_request" || run.Event == "pull_request_target":
		c.note = "workflow run of a pull request"
		return nil
	case headRepo != "" && !strings.EqualFold(headRepo, c.repo):
		c.note = "workflow run of a fork (" + headRepo + ")"
		return nil
	}
	path := ev.Workflow.Path
	if path == "" {
		// A run of a reusable or dynamic workflow may carry "@ref".
		path, _, _ = strings.Cut(run.Path, "@")
	}
	// Generated services are guessed from the repository's name (apps/<name>);
	// the worker checks the guess against the GitOps repository.
	_, name, _ := strings.Cut(c.repo, "/")
	rs = guessNames(rs, []string{name})
	branch, sha := run.HeadBranch, run.HeadSHA
	services := rs.MatchWorkflow(c.repo, path, branch)
	if len(services) == 0 {
		c.note = "no service builds from this workflow"
		return nil
	}
	switch {
	case !intent.ValidRepo(c.repo):
		return fmt.Errorf("%w: repository %q", ErrInvalid, c.repo)
	case !validSHA(sha):
		return fmt.Errorf("%w: head_sha %q", ErrInvalid, sha)
	case !rules.ValidBranch(branch):
		return fmt.Errorf("%w: head_branch %q", ErrInvalid, branch)
	}
	msg := run.HeadCommit.Message
	src := intent.SourceRef{
		Repo:      c.repo,
		SHA:       sha,
		Ref:       branch,
		Message:   truncate(msg, maxMessage),
		CommitURL: commitURL(ev.Repository.HTMLURL, sha),
		RunURL:    run.HTMLURL,
		RunNumber: run.RunNumber,
		HTMLBase:  htmlBase(ev.Repository.HTMLURL, c.repo),
		// The source repository may be another organisation's, with an
		// installation of its own: statuses on the build go through it.
		InstallationID: c.installation,
	}
	build := rules.BuildInfo{SHA: sha, ShortSHA: sha[:7], HeadBranch: branch, RunNumber: run.RunNumber}
	for _, svc := range services {
		tag, err := rs.RenderTag(svc, build)
		if err != nil {
			return fmt.Errorf("%w: service %s: tag template: %w", ErrInvalid, svc.Name, err)
		}
		if !intent.ValidTag(tag) {
			return fmt.Errorf("%w: service %s: rendered tag %q is not an OCI tag", ErrInvalid, svc.Name, tag)
		}
		in := newIntent(d, c, intent.KindUpdate, svc)
		in.To = rs.First(svc)
		in.Tag = tag
		in.Requester = ev.Sender.Login
		in.Ticket = rs.FindTicket(svc.Name, in.To, msg, run.DisplayTitle)
		in.Source = src
		c.intents = append(c.intents, in)
	}
	return nil
}
