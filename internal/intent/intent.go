// Package intent defines the promotion intent: the unit of work that flows from
// the webhook server through the queue to the planner.
package intent

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Kind says what an intent asks for.
type Kind string

const (
	// KindUpdate sets a service's first environment to a freshly built tag.
	KindUpdate Kind = "update"
	// KindPromote moves the tag that From runs (or Tag) into To.
	KindPromote Kind = "promote"
	// KindRollback moves To back to an older Tag; the downgrade gate does not apply.
	KindRollback Kind = "rollback"
	// KindReply answers a ChatOps comment that asked for help or did not
	// parse; the worker posts Reply (the webhook itself never calls GitHub).
	KindReply Kind = "reply"
	// KindMerge says an autoMerge pull request may be mergeable now (a
	// check suite, status or review changed), or that a check failed on it
	// (Check). It names the PR (Source.Issue) or its head branch
	// (Source.Ref) and no service.
	KindMerge Kind = "merge"
	// KindPolicy asks for the promobot/policy check of one pull request
	// (Source.Issue) to be judged again: the PR was opened or changed, or
	// time changed one of its gates.
	KindPolicy Kind = "policy"
	// KindConfig asks a worker to read Repo's own configuration at its
	// base branch head again (a push changed it): the configuration index
	// follows, and an invalid one is reported on the commit.
	KindConfig Kind = "config"
	// KindNoConfig answers a ChatOps command in a repository without any
	// configuration, once per repository, with how to add one.
	KindNoConfig Kind = "noconfig"
	// KindConfigCheck asks for the promobot/config check run of a pull
	// request (Source.Issue, head Source.SHA) that may change Repo's
	// configuration.
	KindConfigCheck Kind = "configcheck"
	// KindHealth records one report of a health check (Check, on commit
	// Source.SHA of Repo's base branch) for the status page; the worker
	// writes it to the state bucket and calls neither GitHub nor git.
	KindHealth Kind = "health"
)

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	switch k {
	case KindUpdate, KindPromote, KindRollback, KindReply, KindMerge, KindPolicy, KindConfig, KindNoConfig, KindConfigCheck, KindHealth:
		return true
	}
	return false
}

// SourceRef is where an intent came from; everything in it is for links and
// ticket extraction, never for control flow.
type SourceRef struct {
	Repo       string `json:"repo,omitempty"`        // owner/name of the repository the event is about
	SHA        string `json:"sha,omitempty"`         // source commit
	Ref        string `json:"ref,omitempty"`         // branch or tag name
	Message    string `json:"message,omitempty"`     // commit message or PR title (ticket keys are looked up here)
	CommitURL  string `json:"commitUrl,omitempty"`   // html link to the source commit
	RunURL     string `json:"runUrl,omitempty"`      // html link to the workflow run
	RunNumber  int64  `json:"runNumber,omitempty"`   // workflow run number
	CompareURL string `json:"compareUrl,omitempty"`  // html compare view (push)
	CommentURL string `json:"commentUrl,omitempty"`  // html link to the ChatOps comment
	CommentID  int64  `json:"commentId,omitempty"`   // issue comment id (for reactions)
	Issue      int    `json:"issue,omitempty"`       // PR or issue number the event is about
	PRURL      string `json:"prUrl,omitempty"`       // html link to that PR
	CloneURL   string `json:"cloneUrl,omitempty"`    // clone_url of the GitOps repo, when the event reports it
	HTMLBase   string `json:"htmlBaseUrl,omitempty"` // e.g. https://github.com
	// InstallationID is the GitHub App installation of the delivery that
	// reported the source event (a workflow_run or push of Repo): the one
	// that may post commit statuses on Repo, which can belong to another
	// organisation than the GitOps repository (Intent.InstallationID).
	// 0: unknown (a repository webhook, or an intent from a comment).
	InstallationID int64 `json:"installationId,omitempty"`
}

// Intent is one promotion request. It is immutable once published.
type Intent struct {
	ID             string   `json:"id"`
	Kind           Kind     `json:"kind"`
	DeliveryID     string   `json:"deliveryId"`
	Event          string   `json:"event"`
	InstallationID int64    `json:"installationId,omitempty"`
	Repo           string   `json:"repo"`     // GitOps repository, owner/name
	Services       []string `json:"services"` // one service, or several for a grouped PR
	From           string   `json:"from,omitempty"`
	To             string   `json:"to"`
	Tag            string   `json:"tag,omitempty"` // empty: whatever From runs now
	Ticket         string   `json:"ticket,omitempty"`
	Requester      string   `json:"requester,omitempty"`
	// Group puts the intent's services on the environment's group branch
	// (defaults.group): one PR per environment, whatever the services.
	Group bool `json:"group,omitempty"`
	// Part names one target of the environment (rules.Target.Part) when the
	// environment opens one PR per target; empty: all targets.
	Part  string `json:"part,omitempty"`
	Reply string `json:"reply,omitempty"` // KindReply: the markdown to post
	// Check is the check a status or check run event reported (KindMerge:
	// a failure on the PR's head).
	Check     *Check    `json:"check,omitempty"`
	Source    SourceRef `json:"source"`
	CreatedAt time.Time `json:"createdAt"`
}

// Check is one commit status or check run as an event reported it.
type Check struct {
	Name  string `json:"name"`
	State string `json:"state"` // success, failure, error, pending
	URL   string `json:"url,omitempty"`
	// At is GitHub's time of the report (KindHealth): a status's
	// updated_at, a check run's completed_at or started_at.
	At time.Time `json:"at,omitzero"`
}

// Target is the unit of leases, branches and PRs.
type Target struct {
	Repo    string `json:"repo"`
	Service string `json:"service"`
	Env     string `json:"env"`
	Part    string `json:"part,omitempty"`
}

// String renders the target as repo/service/env[/part].
func (t Target) String() string {
	s := t.Repo + "/" + t.Service + "/" + t.Env
	if t.Part != "" {
		s += "/" + t.Part
	}
	return s
}

// GroupService is the service token used in subjects and keys for an intent
// that covers several services.
const GroupService = "_group"

// Command reports whether the intent comes from a ChatOps comment: it is
// authorised and answered by the worker.
func (in Intent) Command() bool { return in.Source.CommentID != 0 }

// Target returns the target the intent writes to.
func (in Intent) Target() Target {
	if in.Kind == KindPolicy {
		return policyTarget(in)
	}
	if in.Kind == KindHealth {
		return healthTarget(in)
	}
	svc := GroupService
	if len(in.Services) == 1 && !in.Group {
		svc = in.Services[0]
	}
	return Target{Repo: in.Repo, Service: svc, Env: in.To, Part: in.Part}
}

// SubjectPrefix is the first part of every intent subject.
const SubjectPrefix = "promobot.intents"

// Subject is promobot.intents.<repo>.<service>.<env> with each token escaped.
func (in Intent) Subject() string {
	t := in.Target()
	return SubjectPrefix + "." + EscapeToken(t.Repo) + "." + EscapeToken(t.Service) + "." + EscapeToken(t.Env)
}

// MsgID is the JetStream message id: the delivery id plus the intent index,
// so a redelivered webhook is dropped by the stream's duplicate window.
func MsgID(deliveryID string, index int) string {
	return fmt.Sprintf("%s:%d", deliveryID, index)
}

// EscapeToken makes s safe as one NATS subject token: every byte outside
// [A-Za-z0-9_-] becomes %XX. The mapping is injective, so distinct
// repositories never share a subject.
func EscapeToken(s string) string {
	if s == "" {
		return "%00"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Marshal encodes the intent for the queue.
func (in Intent) Marshal() ([]byte, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("encode intent: %w", err)
	}
	return b, nil
}

// Unmarshal decodes and validates an intent read from the queue.
func Unmarshal(b []byte) (Intent, error) {
	var in Intent
	if err := json.Unmarshal(b, &in); err != nil {
		return Intent{}, fmt.Errorf("decode intent: %w", err)
	}
	if err := in.Validate(); err != nil {
		return Intent{}, err
	}
	return in, nil
}

var (
	ociTag    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
	digest    = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
	repoName  = regexp.MustCompile(`^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$`)
	plainName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	hexSHA    = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)
)

// ValidTag reports whether t is a valid OCI tag.
func ValidTag(t string) bool { return ociTag.MatchString(t) }

// ValidDigest reports whether d is a sha256 digest.
func ValidDigest(d string) bool { return digest.MatchString(d) }

// ValidRepo reports whether r is an owner/name GitHub repository name
// (no path tricks: "." and ".." are refused).
func ValidRepo(r string) bool {
	if !repoName.MatchString(r) {
		return false
	}
	name := r[strings.IndexByte(r, '/')+1:]
	return name != "." && name != ".."
}

// ValidName reports whether s is usable as a service or environment name.
func ValidName(s string) bool { return plainName.MatchString(s) && !strings.Contains(s, "..") }

// Validate checks the fields every consumer relies on.
func (in Intent) Validate() error {
	if in.Kind == KindPolicy {
		return validatePolicy(in)
	}
	if in.Kind == KindConfig || in.Kind == KindConfigCheck {
		return in.validateConfig()
	}
	if in.Kind == KindReply || in.Kind == KindNoConfig {
		switch {
		case in.ID == "":
			return fmt.Errorf("intent: missing id")
		case !ValidRepo(in.Repo):
			return fmt.Errorf("intent %s: invalid repo %q", in.ID, in.Repo)
		case in.Source.Issue <= 0 || in.Source.CommentID == 0 || in.Reply == "":
			return fmt.Errorf("intent %s: a reply needs an issue, a comment and a text", in.ID)
		}
		return nil
	}
	if in.Kind == KindMerge {
		return in.validateMerge()
	}
	if in.Kind == KindHealth {
		return in.validateHealth()
	}
	switch {
	case in.ID == "":
		return fmt.Errorf("intent: missing id")
	case !in.Kind.Valid():
		return fmt.Errorf("intent %s: unknown kind %q", in.ID, in.Kind)
	case !ValidRepo(in.Repo):
		return fmt.Errorf("intent %s: invalid repo %q", in.ID, in.Repo)
	case in.To == "" || !ValidName(in.To):
		return fmt.Errorf("intent %s: invalid target environment %q", in.ID, in.To)
	case in.From != "" && !ValidName(in.From):
		return fmt.Errorf("intent %s: invalid source environment %q", in.ID, in.From)
	case in.Part != "" && !ValidName(in.Part):
		return fmt.Errorf("intent %s: invalid target part %q", in.ID, in.Part)
	case in.Tag != "" && !ValidTag(in.Tag) && !ValidDigest(in.Tag):
		return fmt.Errorf("intent %s: invalid tag %q", in.ID, in.Tag)
	case len(in.Services) == 0 && !in.Command():
		return fmt.Errorf("intent %s: no service", in.ID)
	case in.Kind == KindRollback && in.Tag == "":
		return fmt.Errorf("intent %s: rollback needs a tag", in.ID)
	}
	for _, s := range in.Services {
		if !ValidName(s) {
			return fmt.Errorf("intent %s: invalid service %q", in.ID, s)
		}
	}
	return nil
}

// validateConfig checks a KindConfig intent: a repository and, when the
// push named one, the commit.
func (in Intent) validateConfig() error {
	switch {
	case in.ID == "":
		return fmt.Errorf("intent: missing id")
	case !ValidRepo(in.Repo):
		return fmt.Errorf("intent %s: invalid repo %q", in.ID, in.Repo)
	case len(in.Services) != 0 || in.To != "" || in.Tag != "":
		return fmt.Errorf("intent %s: a configuration read names no service, environment or tag", in.ID)
	case in.Kind == KindConfigCheck && (in.Source.Issue <= 0 || !hexSHA.MatchString(in.Source.SHA)):
		return fmt.Errorf("intent %s: a configuration check needs a pull request and its head commit", in.ID)
	}
	return nil
}
