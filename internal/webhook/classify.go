package webhook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

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

// classifier turns one event type into intents from the members its spec
// captured. Classifiers for further events (the ChatOps "commands"
// classifier for issue_comment) plug in here.
type classifier struct {
	spec *spec
	fn   func(rs *rules.Rules, d Delivery, p *captured, c *classification) error
}

var classifiers = map[string]classifier{
	"workflow_run":  {workflowRunSpec, classifyWorkflowRun},
	"push":          {pushSpec, classifyPush},
	"issue_comment": {commentSpec, classifyComment},
	"pull_request":  envelopeOnly("pull_request: merges are not handled yet"),
	"ping":          envelopeOnly("ping"),
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
	cl, ok := classifiers[d.Event]
	if !ok {
		if strings.HasPrefix(d.Event, "installation") {
			cl = envelopeOnly("installation event")
		} else {
			cl = envelopeOnly("event not handled")
		}
	}
	// One pass: the strict check records the members the classifier reads.
	p, err := capture(cl.spec, d.Payload)
	if err != nil {
		return c, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if rs == nil {
		return c, errors.New("no rules loaded")
	}
	if err := cl.fn(rs, d, p, c); err != nil {
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

// Slots of the envelope every event shares.
const (
	eAction = iota
	eInstallation
	eRepo
	eSlots
)

// envelopeFields are the members every event shares.
func envelopeFields() []field {
	return []field{
		{key: "action", slot: eAction},
		{key: "installation", sub: []field{{key: "id", slot: eInstallation}}},
	}
}

var envelopeSpec = newSpec(append(envelopeFields(),
	field{key: "repository", sub: []field{{key: "full_name", slot: eRepo}}}))

// envelopeOnly classifies an event that produces no intent, for the log line.
func envelopeOnly(note string) classifier {
	return classifier{envelopeSpec, func(_ *rules.Rules, _ Delivery, p *captured, c *classification) error {
		c.action = p.str(eAction)
		c.setInstallation(p.int64(eInstallation))
		c.repo = p.str(eRepo)
		if err := p.err(); err != nil {
			return err
		}
		c.note = note
		return nil
	}}
}

func (c *classification) setInstallation(id int64) {
	if id != 0 {
		c.installation = id
	}
}

// newIntent fills the fields every intent carries.
func newIntent(d Delivery, c *classification, kind intent.Kind, svc *rules.Service) intent.Intent {
	return intent.Intent{
		ID:             intent.MsgID(d.ID, len(c.intents)),
		Kind:           kind,
		DeliveryID:     d.ID,
		Event:          d.Event,
		InstallationID: sameOwnerInstallation(c.installation, c.repo, svc.Repo),
		Repo:           svc.Repo,
		Services:       []string{svc.Name},
		CreatedAt:      d.Received,
	}
}

// Slots of a workflow_run delivery.
const (
	wRepoHTML = eSlots + iota
	wSender
	wWorkflowPath
	wConclusion
	wHeadBranch
	wHeadSHA
	wRunPath
	wRunHTML
	wRunNumber
	wDisplayTitle
	wHeadMessage
	wRunEvent
	wHeadRepo
)

var workflowRunSpec = newSpec(append(envelopeFields(),
	field{key: "repository", sub: []field{{key: "full_name", slot: eRepo}, {key: "html_url", slot: wRepoHTML}}},
	field{key: "sender", sub: []field{{key: "login", slot: wSender}}},
	field{key: "workflow", sub: []field{{key: "path", slot: wWorkflowPath}}},
	field{key: "workflow_run", sub: []field{
		{key: "conclusion", slot: wConclusion},
		{key: "head_branch", slot: wHeadBranch},
		{key: "head_sha", slot: wHeadSHA},
		{key: "path", slot: wRunPath},
		{key: "html_url", slot: wRunHTML},
		{key: "run_number", slot: wRunNumber},
		{key: "display_title", slot: wDisplayTitle},
		{key: "head_commit", sub: []field{{key: "message", slot: wHeadMessage}}},
		{key: "event", slot: wRunEvent},
		{key: "head_repository", sub: []field{{key: "full_name", slot: wHeadRepo}}},
	}},
))

// classifyWorkflowRun: a successful build of a service's source → update
// the service's first environment to the rendered tag (SPEC §2).
func classifyWorkflowRun(rs *rules.Rules, d Delivery, p *captured, c *classification) error {
	action, installation, repo := p.str(eAction), p.int64(eInstallation), p.str(eRepo)
	conclusion := p.str(wConclusion)
	path := p.str(wWorkflowPath)
	runPath := p.str(wRunPath)
	branch, sha := p.str(wHeadBranch), p.str(wHeadSHA)
	repoHTML, runHTML, runNumber := p.str(wRepoHTML), p.str(wRunHTML), p.int64(wRunNumber)
	msg, title, sender := p.str(wHeadMessage), p.str(wDisplayTitle), p.str(wSender)
	event, headRepo := p.str(wRunEvent), p.str(wHeadRepo)
	if err := p.err(); err != nil {
		return err
	}
	c.setInstallation(installation)
	c.action = action
	c.repo = repo
	if c.action != "completed" || conclusion != "success" {
		c.note = fmt.Sprintf("workflow run %s/%s", c.action, conclusion)
		return nil
	}
	// A pull request's build runs code from its head, possibly a fork whose
	// branch is also called "main": it never produces a deployable tag.
	switch {
	case event == "pull_request" || event == "pull_request_target":
		c.note = "workflow run of a pull request"
		return nil
	case headRepo != "" && !strings.EqualFold(headRepo, c.repo):
		c.note = "workflow run of a fork (" + headRepo + ")"
		return nil
	}
	if path == "" {
		// A run of a reusable or dynamic workflow may carry "@ref".
		path, _, _ = strings.Cut(runPath, "@")
	}
	// Generated services are guessed from the repository's name (apps/<name>);
	// the worker checks the guess against the GitOps repository.
	_, name, _ := strings.Cut(c.repo, "/")
	rs, err := rs.ForNames(context.Background(), []string{name})
	if err != nil {
		return fmt.Errorf("%w: generators: %w", ErrInvalid, err)
	}
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
	src := intent.SourceRef{
		Repo:      c.repo,
		SHA:       sha,
		Ref:       branch,
		Message:   truncate(msg, maxMessage),
		CommitURL: commitURL(repoHTML, sha),
		RunURL:    runHTML,
		RunNumber: runNumber,
		HTMLBase:  htmlBase(repoHTML, c.repo),
	}
	build := rules.BuildInfo{SHA: sha, ShortSHA: sha[:7], HeadBranch: branch, RunNumber: runNumber}
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
		in.Requester = sender
		in.Ticket = rs.FindTicket(svc.Name, in.To, msg, title)
		in.Source = src
		c.intents = append(c.intents, in)
	}
	return nil
}

// Slots of a push delivery.
const (
	pRef = eSlots + iota
	pAfter
	pCompare
	pDeleted
	pRepoHTML
	pRepoClone
	pSender
	pHeadMessage
	pHeadURL
	pHeadAdded
	pHeadModified
	pHeadRemoved
	pCommits
)

// A push has no "action"; the envelope's is captured and not used.
var pushSpec = newSpec(append(envelopeFields(),
	field{key: "ref", slot: pRef},
	field{key: "after", slot: pAfter},
	field{key: "compare", slot: pCompare},
	field{key: "deleted", slot: pDeleted},
	field{key: "repository", sub: []field{
		{key: "full_name", slot: eRepo},
		{key: "html_url", slot: pRepoHTML},
		{key: "clone_url", slot: pRepoClone},
	}},
	field{key: "sender", sub: []field{{key: "login", slot: pSender}}},
	field{key: "head_commit", sub: []field{
		{key: "message", slot: pHeadMessage},
		{key: "url", slot: pHeadURL},
		{key: "added", slot: pHeadAdded, array: true},
		{key: "modified", slot: pHeadModified, array: true},
		{key: "removed", slot: pHeadRemoved, array: true},
	}},
	field{key: "commits", slot: pCommits, array: true},
))

// push is what classification reads of a push delivery.
type push struct {
	ref, after, compare, repoHTML, repoClone, sender string
	headMessage, headURL                             string
	deleted                                          bool
}

// commit is one entry of a push's commits list, decoded only for a branch
// push to a GitOps repository.
type commit struct {
	Message  string   `json:"message"`
	Added    []string `json:"added"`
	Modified []string `json:"modified"`
	Removed  []string `json:"removed"`
}

// classifyPush handles tag pushes (a release of a service's source) and
// branch pushes to a GitOps repository (a changed environment that may be
// promoted onwards).
func classifyPush(rs *rules.Rules, d Delivery, p *captured, c *classification) error {
	installation, repo := p.int64(eInstallation), p.str(eRepo)
	ev := push{
		ref: p.str(pRef), after: p.str(pAfter), compare: p.str(pCompare), deleted: p.boolean(pDeleted),
		repoHTML: p.str(pRepoHTML), repoClone: p.str(pRepoClone), sender: p.str(pSender),
		headMessage: p.str(pHeadMessage), headURL: p.str(pHeadURL),
	}
	if err := p.err(); err != nil {
		return err
	}
	c.setInstallation(installation)
	c.repo = repo
	if ev.deleted {
		c.note = "ref deleted"
		return nil
	}
	if tag, ok := strings.CutPrefix(ev.ref, "refs/tags/"); ok {
		return classifyTagPush(rs, d, c, &ev, tag)
	}
	if _, ok := strings.CutPrefix(ev.ref, "refs/heads/"); ok {
		return classifyBranchPush(rs, d, p, c, &ev)
	}
	c.note = "push to a ref that is neither a branch nor a tag"
	return nil
}

func classifyTagPush(rs *rules.Rules, d Delivery, c *classification, ev *push, tag string) error {
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
	sha := ev.after
	switch {
	case !intent.ValidRepo(c.repo):
		return fmt.Errorf("%w: repository %q", ErrInvalid, c.repo)
	case !validSHA(sha):
		return fmt.Errorf("%w: after %q", ErrInvalid, sha)
	}
	src := intent.SourceRef{
		Repo:       c.repo,
		SHA:        sha,
		Ref:        tag,
		Message:    truncate(ev.headMessage, maxMessage),
		CommitURL:  ev.headURL,
		CompareURL: ev.compare,
		HTMLBase:   htmlBase(ev.repoHTML, c.repo),
	}
	for _, svc := range services {
		in := newIntent(d, c, intent.KindUpdate, svc)
		in.To = rs.First(svc)
		in.Tag = tag
		in.Requester = ev.sender
		in.Ticket = rs.FindTicket(svc.Name, in.To, ev.headMessage)
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
func classifyBranchPush(rs *rules.Rules, d Delivery, p *captured, c *classification, ev *push) error {
	if len(rs.ServicesIn(c.repo)) == 0 && !generates(rs, c.repo) {
		c.note = "not a gitops repository"
		return nil
	}
	var head commit
	var commits []commit
	p.decode(pHeadAdded, &head.Added)
	p.decode(pHeadModified, &head.Modified)
	p.decode(pHeadRemoved, &head.Removed)
	p.decode(pCommits, &commits)
	if err := p.err(); err != nil {
		return err
	}
	paths := changedPaths(append(commits, head))
	// Generated services are known from the changed paths alone: the
	// webhook never lists the repository.
	rs, err := rs.ForPaths(context.Background(), c.repo, paths)
	if err != nil {
		return fmt.Errorf("%w: generators: %w", ErrInvalid, err)
	}
	touched := rs.Touched(c.repo, paths)
	if len(touched) == 0 {
		c.note = "no environment file changed"
		return nil
	}
	branch := strings.TrimPrefix(ev.ref, "refs/heads/")
	msg := ev.headMessage
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
		in.Requester = ev.sender
		in.Ticket = rs.FindTicket(te.Service.Name, next, texts...)
		in.Source = intent.SourceRef{
			Repo:       c.repo,
			SHA:        ev.after,
			Ref:        branch,
			Message:    truncate(msg, maxMessage),
			CompareURL: ev.compare,
			CommitURL:  ev.headURL,
			CloneURL:   ev.repoClone,
			HTMLBase:   htmlBase(ev.repoHTML, c.repo),
		}
		c.intents = append(c.intents, in)
	}
	if len(c.intents) == 0 {
		c.note = "no automatic promotion follows the changed environments"
		return nil
	}
	if rs.Defaults.Group {
		c.intents = group(d, c.intents)
	}
	switch sha := ev.after; {
	case !intent.ValidRepo(c.repo):
		return fmt.Errorf("%w: repository %q", ErrInvalid, c.repo)
	case !validSHA(sha):
		return fmt.Errorf("%w: after %q", ErrInvalid, sha)
	}
	return nil
}

// sameOwnerInstallation keeps the delivery's installation only when the
// GitOps repository has the same owner as the event's repository: an App
// installed on two organisations has one installation each, and the
// worker looks the right one up when the id is 0.
func sameOwnerInstallation(id int64, eventRepo, gitopsRepo string) int64 {
	a, _, _ := strings.Cut(eventRepo, "/")
	b, _, _ := strings.Cut(gitopsRepo, "/")
	if !strings.EqualFold(a, b) {
		return 0
	}
	return id
}

// generates reports whether a generator makes services in repo.
func generates(rs *rules.Rules, repo string) bool {
	for _, g := range rs.Generators {
		if strings.EqualFold(g.Repo, repo) {
			return true
		}
	}
	return false
}

// group merges the intents of one event into one per target environment
// (defaults.group: one PR per environment for all services of the event).
// Each service still promotes from its own previous environment.
func group(d Delivery, ins []intent.Intent) []intent.Intent {
	var out []intent.Intent
	at := map[string]int{}
	for _, in := range ins {
		if i, ok := at[in.To]; ok {
			out[i].Services = append(out[i].Services, in.Services...)
			if out[i].From != in.From {
				out[i].From = ""
			}
			if out[i].Ticket == "" {
				out[i].Ticket = in.Ticket
			}
			continue
		}
		at[in.To] = len(out)
		in.ID = intent.MsgID(d.ID, len(out))
		in.Group = true
		out = append(out, in)
	}
	return out
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
