package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/go-github/v60/github"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

var (
	// ErrMalformed means the payload cannot be read (bad JSON, wrong shape):
	// the handler answers 400.
	ErrMalformed = errors.New("malformed payload")
	// ErrInvalid means the payload is well-formed but would produce an
	// intent that must not exist (a tag that is not an OCI tag, a bad ref):
	// the handler answers 202 so GitHub does not retry, and logs a warning.
	ErrInvalid = errors.New("invalid delivery")
)

// maxMessage bounds the commit message copied into an intent; the whole
// message is still searched for ticket keys. A 25 MiB commit message must
// not make an intent larger than the NATS payload limit.
const maxMessage = 4096

// Delivery is one webhook delivery as the handler received it.
type Delivery struct {
	Event string // X-GitHub-Event
	ID    string // X-GitHub-Delivery
	// Payload is the JSON body (already extracted from a form body).
	Payload []byte
	// InstallationID is used when the payload has no installation.id
	// (a repository webhook rather than an App delivery); the payload wins.
	InstallationID int64
	// Received stamps the intents' CreatedAt, keeping Classify pure.
	Received time.Time
}

// classification is what the handler logs about a delivery besides its intents.
type classification struct {
	installation int64
	repo         string // repository.full_name of the event
	action       string
	note         string // why nothing was produced, for the log line
	intents      []intent.Intent
}

// classifier turns one event type into intents. Classifiers for further
// events (the ChatOps "commands" classifier for issue_comment) plug in here.
type classifier func(rs *rules.Rules, d Delivery, c *classification) error

var classifiers = map[string]classifier{
	"workflow_run":  classifyWorkflowRun,
	"push":          classifyPush,
	"issue_comment": classifyEnvelopeOnly("issue_comment: commands are not handled yet"),
	"pull_request":  classifyEnvelopeOnly("pull_request: merges are not handled yet"),
	"ping":          classifyEnvelopeOnly("ping"),
}

// Classify turns one delivery into zero or more intents, in a deterministic
// order, each validated. It reads only the payload and the rules. Errors wrap
// ErrMalformed (unreadable payload) or ErrInvalid (an intent that must not
// be published); on error no intent is returned.
func Classify(rs *rules.Rules, d Delivery) ([]intent.Intent, error) {
	c, err := classify(rs, d)
	if err != nil {
		return nil, err
	}
	return c.intents, nil
}

func classify(rs *rules.Rules, d Delivery) (*classification, error) {
	c := &classification{installation: d.InstallationID}
	if err := checkJSON(d.Payload); err != nil {
		return c, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if rs == nil {
		return c, errors.New("no rules loaded")
	}
	fn, ok := classifiers[d.Event]
	if !ok {
		if strings.HasPrefix(d.Event, "installation") {
			fn = classifyEnvelopeOnly("installation event")
		} else {
			fn = classifyEnvelopeOnly("event not handled")
		}
	}
	if err := fn(rs, d, c); err != nil {
		c.intents = nil
		return c, err
	}
	for i := range c.intents {
		if err := c.intents[i].Validate(); err != nil {
			c.intents = nil
			return c, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	return c, nil
}

// envelope is the part every event shares.
type envelope struct {
	Action       string `json:"action"`
	Installation *struct {
		ID int64 `json:"id"`
	} `json:"installation"`
	Repository *struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
}

func classifyEnvelopeOnly(note string) classifier {
	return func(_ *rules.Rules, d Delivery, c *classification) error {
		var env envelope
		if err := json.Unmarshal(d.Payload, &env); err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		c.action = env.Action
		if env.Installation != nil && env.Installation.ID != 0 {
			c.installation = env.Installation.ID
		}
		if env.Repository != nil {
			c.repo = env.Repository.FullName
		}
		c.note = note
		return nil
	}
}

func parse(d Delivery) (any, error) {
	ev, err := github.ParseWebHook(d.Event, d.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return ev, nil
}

func (c *classification) setInstallation(in *github.Installation) {
	if in != nil && in.GetID() != 0 {
		c.installation = in.GetID()
	}
}

// newIntent fills the fields every intent carries.
func newIntent(d Delivery, c *classification, kind intent.Kind, svc *rules.Service) intent.Intent {
	return intent.Intent{
		ID:             intent.MsgID(d.ID, len(c.intents)),
		Kind:           kind,
		DeliveryID:     d.ID,
		Event:          d.Event,
		InstallationID: c.installation,
		Repo:           svc.Repo,
		Services:       []string{svc.Name},
		CreatedAt:      d.Received,
	}
}

// classifyWorkflowRun: a successful build of a service's source → update
// the service's first environment to the rendered tag (SPEC §2).
func classifyWorkflowRun(rs *rules.Rules, d Delivery, c *classification) error {
	raw, err := parse(d)
	if err != nil {
		return err
	}
	ev, ok := raw.(*github.WorkflowRunEvent)
	if !ok {
		return fmt.Errorf("%w: unexpected type %T", ErrMalformed, raw)
	}
	c.setInstallation(ev.Installation)
	c.action = ev.GetAction()
	c.repo = ev.GetRepo().GetFullName()
	run := ev.GetWorkflowRun()
	if c.action != "completed" || run.GetConclusion() != "success" {
		c.note = fmt.Sprintf("workflow run %s/%s", c.action, run.GetConclusion())
		return nil
	}
	path := ev.GetWorkflow().GetPath()
	if path == "" {
		// go-github v60's WorkflowRun has no Path field; read it raw.
		var extra struct {
			WorkflowRun struct {
				Path string `json:"path"`
			} `json:"workflow_run"`
		}
		if err := json.Unmarshal(d.Payload, &extra); err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		// A run of a reusable or dynamic workflow may carry "@ref".
		path, _, _ = strings.Cut(extra.WorkflowRun.Path, "@")
	}
	branch := run.GetHeadBranch()
	services := rs.MatchWorkflow(c.repo, path, branch)
	if len(services) == 0 {
		c.note = "no service builds from this workflow"
		return nil
	}
	sha := run.GetHeadSHA()
	switch {
	case !intent.ValidRepo(c.repo):
		return fmt.Errorf("%w: repository %q", ErrInvalid, c.repo)
	case !validSHA(sha):
		return fmt.Errorf("%w: head_sha %q", ErrInvalid, sha)
	case !rules.ValidBranch(branch):
		return fmt.Errorf("%w: head_branch %q", ErrInvalid, branch)
	}
	msg := run.GetHeadCommit().GetMessage()
	src := intent.SourceRef{
		Repo:      c.repo,
		SHA:       sha,
		Ref:       branch,
		Message:   truncate(msg, maxMessage),
		CommitURL: commitURL(ev.GetRepo().GetHTMLURL(), sha),
		RunURL:    run.GetHTMLURL(),
		RunNumber: int64(run.GetRunNumber()),
		HTMLBase:  htmlBase(ev.GetRepo().GetHTMLURL(), c.repo),
	}
	build := rules.BuildInfo{SHA: sha, ShortSHA: sha[:7], HeadBranch: branch, RunNumber: int64(run.GetRunNumber())}
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
		in.Requester = ev.GetSender().GetLogin()
		in.Ticket = rs.FindTicket(svc.Name, in.To, msg, run.GetDisplayTitle())
		in.Source = src
		c.intents = append(c.intents, in)
	}
	return nil
}

// classifyPush handles tag pushes (a release of a service's source) and
// branch pushes to a GitOps repository (a changed environment that may be
// promoted onwards).
func classifyPush(rs *rules.Rules, d Delivery, c *classification) error {
	raw, err := parse(d)
	if err != nil {
		return err
	}
	ev, ok := raw.(*github.PushEvent)
	if !ok {
		return fmt.Errorf("%w: unexpected type %T", ErrMalformed, raw)
	}
	c.setInstallation(ev.Installation)
	c.repo = ev.GetRepo().GetFullName()
	if ev.GetDeleted() {
		c.note = "ref deleted"
		return nil
	}
	ref := ev.GetRef()
	if tag, ok := strings.CutPrefix(ref, "refs/tags/"); ok {
		return classifyTagPush(rs, d, c, ev, tag)
	}
	if _, ok := strings.CutPrefix(ref, "refs/heads/"); ok {
		return classifyBranchPush(rs, d, c, ev)
	}
	c.note = "push to a ref that is neither a branch nor a tag"
	return nil
}

func classifyTagPush(rs *rules.Rules, d Delivery, c *classification, ev *github.PushEvent, tag string) error {
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
	sha := ev.GetAfter()
	switch {
	case !intent.ValidRepo(c.repo):
		return fmt.Errorf("%w: repository %q", ErrInvalid, c.repo)
	case !validSHA(sha):
		return fmt.Errorf("%w: after %q", ErrInvalid, sha)
	}
	msg := ev.GetHeadCommit().GetMessage()
	src := intent.SourceRef{
		Repo:       c.repo,
		SHA:        sha,
		Ref:        tag,
		Message:    truncate(msg, maxMessage),
		CommitURL:  ev.GetHeadCommit().GetURL(),
		CompareURL: ev.GetCompare(),
		HTMLBase:   htmlBase(ev.GetRepo().GetHTMLURL(), c.repo),
	}
	for _, svc := range services {
		in := newIntent(d, c, intent.KindUpdate, svc)
		in.To = rs.First(svc)
		in.Tag = tag
		in.Requester = ev.GetSender().GetLogin()
		in.Ticket = rs.FindTicket(svc.Name, in.To, msg)
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
func classifyBranchPush(rs *rules.Rules, d Delivery, c *classification, ev *github.PushEvent) error {
	if len(rs.ServicesIn(c.repo)) == 0 {
		c.note = "not a gitops repository"
		return nil
	}
	paths := changedPaths(ev)
	touched := rs.Touched(c.repo, paths)
	if len(touched) == 0 {
		c.note = "no environment file changed"
		return nil
	}
	branch := strings.TrimPrefix(ev.GetRef(), "refs/heads/")
	msg := ev.GetHeadCommit().GetMessage()
	texts := []string{msg}
	for _, cm := range ev.Commits {
		texts = append(texts, cm.GetMessage())
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
		in.Requester = ev.GetSender().GetLogin()
		in.Ticket = rs.FindTicket(te.Service.Name, next, texts...)
		in.Source = intent.SourceRef{
			Repo:       c.repo,
			SHA:        ev.GetAfter(),
			Ref:        branch,
			Message:    truncate(msg, maxMessage),
			CompareURL: ev.GetCompare(),
			CommitURL:  ev.GetHeadCommit().GetURL(),
			CloneURL:   ev.GetRepo().GetCloneURL(),
			HTMLBase:   htmlBase(ev.GetRepo().GetHTMLURL(), c.repo),
		}
		c.intents = append(c.intents, in)
	}
	if len(c.intents) == 0 {
		c.note = "no automatic promotion follows the changed environments"
		return nil
	}
	switch sha := ev.GetAfter(); {
	case !intent.ValidRepo(c.repo):
		return fmt.Errorf("%w: repository %q", ErrInvalid, c.repo)
	case !validSHA(sha):
		return fmt.Errorf("%w: after %q", ErrInvalid, sha)
	}
	return nil
}

// changedPaths returns every path added, modified or removed by the listed
// commits and the head commit, deduplicated and sorted.
func changedPaths(ev *github.PushEvent) []string {
	seen := map[string]struct{}{}
	add := func(cm *github.HeadCommit) {
		if cm == nil {
			return
		}
		for _, list := range [][]string{cm.Added, cm.Modified, cm.Removed} {
			for _, p := range list {
				seen[p] = struct{}{}
			}
		}
	}
	for _, cm := range ev.Commits {
		add(cm)
	}
	add(ev.HeadCommit)
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

// validSHA accepts a full SHA-1 or SHA-256 object name in lower-case hex.
func validSHA(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return s != strings.Repeat("0", len(s))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func commitURL(repoHTML, sha string) string {
	if repoHTML == "" {
		return ""
	}
	return strings.TrimSuffix(repoHTML, "/") + "/commit/" + sha
}

// htmlBase derives e.g. https://github.com (or a GHES host) from the
// repository's html_url.
func htmlBase(repoHTML, fullName string) string {
	base, ok := strings.CutSuffix(strings.TrimSuffix(repoHTML, "/"), "/"+fullName)
	if !ok {
		return ""
	}
	return base
}
