// Package history reads a GitOps repository's git history: every change of
// every service's tag in every environment of the rules, how each change
// came (a promobot pull request, a direct commit by promobot, or a hand
// edit), and what runs now. One first-parent pass over the base branch
// answers it all; Cache keeps the answer per head commit.
//
// The data is the history page's, `promobot status`'s drift flags' and
// `promobot audit`'s. Nothing here calls GitHub: approvals, which only the
// API knows, are added by the audit report.
package history

import "time"

// Via says how a change reached the base branch.
type Via string

// The ways a change comes.
const (
	// ViaPR is a merged promobot pull request (recognised by the
	// Promobot-Intent trailer of its commits or by promobot's branch name).
	ViaPR Via = "pr"
	// ViaDirect is a commit promobot made on the base branch itself (a
	// direct environment).
	ViaDirect Via = "direct"
	// ViaHand is anything else: a person's commit or pull request.
	ViaHand Via = "hand"
)

// Person is a commit's author or committer as git records them.
type Person struct {
	Name  string    `json:"name"`
	Email string    `json:"email"`
	When  time.Time `json:"when"`
}

// Gate is one gate as promobot recorded it in a commit trailer.
type Gate struct {
	Name  string `json:"name"`
	State string `json:"state"` // open, waiting or closed
}

// Origin is how a commit came, read from its message (and, for a merge, its
// merged branch's tip).
type Origin struct {
	Via       Via    `json:"via"`
	PR        int    `json:"pr,omitempty"`     // pull request number when known
	Branch    string `json:"branch,omitempty"` // the merged branch when the message names it
	Intent    string `json:"intent,omitempty"` // promobot's intent id
	Kind      string `json:"kind,omitempty"`   // promote, update or rollback, when recorded
	Requester string `json:"requester,omitempty"`
	Ticket    string `json:"ticket,omitempty"`
	Source    string `json:"source,omitempty"` // the build: repo@sha
	Gates     []Gate `json:"gates,omitempty"`
}

// Change is one change of one target's tag on the base branch.
type Change struct {
	Time      time.Time `json:"time"` // the base-branch commit's committer time
	Commit    string    `json:"commit"`
	Subject   string    `json:"subject"`
	Author    Person    `json:"author"`
	Committer Person    `json:"committer"`
	Service   string    `json:"service"`
	Env       string    `json:"env"`
	Path      string    `json:"path"`
	From      string    `json:"from,omitempty"` // "" when the target did not set one
	To        string    `json:"to,omitempty"`   // "" when the change removed it
	Image     string    `json:"image,omitempty"`
	Origin
}

// Current is what one service runs in one environment: its first target's
// tag and the change that put it there.
type Current struct {
	Service string    `json:"service"`
	Env     string    `json:"env"`
	Path    string    `json:"path"`
	Tag     string    `json:"tag,omitempty"`
	Digest  string    `json:"digest,omitempty"`
	Ref     string    `json:"ref,omitempty"` // tag, digest or tag@digest as written
	Image   string    `json:"image,omitempty"`
	Since   time.Time `json:"since,omitzero"` // zero when the history walked does not reach the change
	Commit  string    `json:"commit,omitempty"`
	By      string    `json:"by,omitempty"` // the requester when recorded, else the commit's author
	Author  Person    `json:"author,omitzero"`
	Origin
	// LastEdit is the newest change of any of the environment's files,
	// whatever it changed (nil when the history walked has none).
	LastEdit *FileChange `json:"lastEdit,omitempty"`
	// Mixed is set when the environment's targets run different refs.
	Mixed bool   `json:"mixed,omitempty"`
	Error string `json:"error,omitempty"`
}

// FileChange is the newest commit that changed one target file at all.
type FileChange struct {
	Path   string    `json:"path"`
	Time   time.Time `json:"time"`
	Commit string    `json:"commit"`
	Author Person    `json:"author"`
	Origin
}

// History is one repository's history at one head commit.
type History struct {
	Head string `json:"head"`
	// Changes, newest first; within one commit by service, env, path.
	Changes []Change `json:"changes"`
	// Current per service and environment, by service then environment order.
	Current []Current `json:"current"`
	// Files is the newest change of each target file, by path.
	Files map[string]FileChange `json:"files"`
	// Commits is how many first-parent commits were walked; Truncated is
	// set when the walk stopped at Options.MaxCommits before the root.
	Commits   int  `json:"commits"`
	Truncated bool `json:"truncated,omitempty"`

	parsed map[blobSpec]parsed // what each file version runs, for walks from this one
}

// Timeline returns service's changes in env (every target), newest first.
func (h *History) Timeline(service, env string) []Change {
	var out []Change
	for _, c := range h.Changes {
		if c.Service == service && (env == "" || c.Env == env) {
			out = append(out, c)
		}
	}
	return out
}

// Service returns every change of service in every environment, newest
// first: the service timeline.
func (h *History) Service(service string) []Change { return h.Timeline(service, "") }

// CurrentOf returns what service runs in env.
func (h *History) CurrentOf(service, env string) (Current, bool) {
	for _, c := range h.Current {
		if c.Service == service && c.Env == env {
			return c, true
		}
	}
	return Current{}, false
}

// FirstRan returns when ref first started running in service's env (on any
// target), from the history walked; ok is false when it never did.
func (h *History) FirstRan(service, env, ref string) (time.Time, bool) {
	var first time.Time
	ok := false
	for _, c := range h.Changes {
		if c.Service == service && c.Env == env && c.To == ref && ref != "" {
			first, ok = c.Time, true // newest first: the last match is the oldest
		}
	}
	return first, ok
}

// Ran reports whether ref ran in service's env before t (on any target).
func (h *History) Ran(service, env, ref string, before time.Time) bool {
	for _, c := range h.Changes {
		if c.Service == service && c.Env == env && c.To == ref && ref != "" && c.Time.Before(before) {
			return true
		}
	}
	return false
}
