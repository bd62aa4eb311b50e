package deploy

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// These tests keep the GitHub App manifest honest in both directions: every
// event it subscribes to is one its permissions allow (GitHub's manifest flow
// refuses a manifest whose default events its permissions do not cover, and an
// App without the permission never receives the event), and every permission
// it asks for is one promobot uses.
//
// What each event needs comes from GitHub itself, not from this file:
// testdata/webhook-permissions.json holds, for every webhook event, the
// sentence of GitHub's REST OpenAPI description that names the permission a
// GitHub App needs to subscribe (see the file's "source" member and
// testdata/OPENAPI_LICENSE). The tables below say why promobot wants each
// permission and event; README.md's "Installing the GitHub App" repeats them.

// permissionUse is every permission promobot asks for, at the level it needs,
// and why. A permission in the manifest but not here, or here but not in the
// manifest, fails TestManifestPermissionsAreUsed.
var permissionUse = map[string]struct{ level, why string }{
	"actions":       {"read", "to receive workflow_run: a successful build starts a promotion (no Actions API call is made)"},
	"checks":        {"write", "health and policy features report as check runs; also delivers check_run and check_suite"},
	"contents":      {"write", "fetch the GitOps repositories and write promotion commits and branches (Git Data API); also delivers push"},
	"issues":        {"write", "ChatOps on issues: react to and answer /promote comments; label promotion PRs; also delivers issue_comment"},
	"members":       {"read", "check that a commenter is an active member of a team named in an environment's promoters"},
	"metadata":      {"read", "required of every App; repository lookups and a commenter's permission on the repository"},
	"pull_requests": {"write", "open, edit and merge promotion PRs, request reviewers, list a PR's files for ChatOps; also delivers pull_request"},
	"statuses":      {"write", "report a promotion's outcome as a commit status on the build's commit; also delivers status"},
}

// eventUse is every event promobot subscribes to, and why.
var eventUse = map[string]string{
	"push":          "a merge into a GitOps repository's base branch can start the next environment's promotion",
	"workflow_run":  "a successful build of a source repository starts a promotion",
	"issue_comment": "ChatOps: /promote and /rollback commands in issue and pull request comments",
	"pull_request":  "merges and closes of promotion PRs",
	"status":        "commit statuses, for the health and policy gates",
	"check_run":     "check runs, for the health and policy gates",
	"check_suite":   "check suites, for the health and policy gates",
	// An approval may make an autoMerge PR mergeable.
	"pull_request_review": "approvals, for auto-merge where GitHub's own is not allowed",
}

// alwaysDelivered are events GitHub sends every App without a subscription
// (and refuses as a subscription); promobot reads them to follow which
// repositories it may work on.
var alwaysDelivered = map[string]string{
	"installation":              "the App was installed, suspended or removed",
	"installation_repositories": "repositories were added to or removed from an installation",
}

// permissionKey maps the permission names GitHub's event descriptions use to
// the manifest's keys, for the names with one unambiguous key.
var permissionKey = map[string]string{
	"Actions":         "actions",
	"Checks":          "checks",
	"Commit statuses": "statuses",
	"Contents":        "contents",
	"Deployments":     "deployments",
	"Discussions":     "discussions",
	"Issues":          "issues",
	"Members":         "members",
	"Metadata":        "metadata",
	"Pages":           "pages",
	"Pull requests":   "pull_requests",
}

// manifest is github-app-manifest.json; unknown members are refused so a
// misspelt key ("default_permission") does not pass unnoticed.
type manifest struct {
	Name           string `json:"name"`
	URL            string `json:"url"`
	Description    string `json:"description"`
	HookAttributes struct {
		URL    string `json:"url"`
		Active bool   `json:"active"`
	} `json:"hook_attributes"`
	RedirectURL        string            `json:"redirect_url"`
	CallbackURLs       []string          `json:"callback_urls"`
	SetupURL           string            `json:"setup_url"`
	Public             bool              `json:"public"`
	DefaultPermissions map[string]string `json:"default_permissions"`
	DefaultEvents      []string          `json:"default_events"`
}

func readManifest(t *testing.T) manifest {
	t.Helper()
	b, err := os.ReadFile("github-app-manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m manifest
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("github-app-manifest.json: %v", err)
	}
	return m
}

// requirement is what GitHub asks of an App for one event: at least level on
// one of perms (GitHub's names), or nothing when the event is always delivered.
type requirement struct {
	always bool
	level  string
	perms  []string
	text   string
}

var (
	needRe   = regexp.MustCompile(`must have at least (read|write)-level access for the ((?:"[^"]+"(?: or )?)+) (?:repository or organization |repository |organization |app )?permissions?\.`)
	quotedRe = regexp.MustCompile(`"([^"]+)"`)
)

// alwaysTexts are GitHub's two ways of saying an event needs no subscription.
var alwaysTexts = []string{
	"All GitHub Apps receive this event by default. You cannot manually subscribe to this event.",
	"A GitHub App receives this webhook by default and cannot unsubscribe from this event.",
}

func parseRequirement(sentence string) (requirement, bool) {
	if slices.Contains(alwaysTexts, sentence) {
		return requirement{always: true, text: sentence}, true
	}
	m := needRe.FindStringSubmatch(sentence)
	if m == nil {
		return requirement{}, false
	}
	r := requirement{level: m[1], text: sentence}
	for _, q := range quotedRe.FindAllStringSubmatch(m[2], -1) {
		r.perms = append(r.perms, q[1])
	}
	return r, true
}

// githubRequirements reads testdata/webhook-permissions.json.
func githubRequirements(t *testing.T) map[string]requirement {
	t.Helper()
	b, err := os.ReadFile("testdata/webhook-permissions.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Events []struct {
			Event        string   `json:"event"`
			Requirements []string `json:"requirements"`
		} `json:"events"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("webhook-permissions.json: %v", err)
	}
	out := map[string]requirement{}
	for _, e := range doc.Events {
		if len(e.Requirements) != 1 {
			continue // GitHub names no permission (ping, marketplace_purchase, ...)
		}
		r, ok := parseRequirement(e.Requirements[0])
		if !ok {
			// A sentence this test cannot read would silently drop an event's
			// requirement: refuse it so the parser is updated.
			t.Errorf("event %s: cannot read GitHub's requirement %q", e.Event, e.Requirements[0])
			continue
		}
		out[e.Event] = r
	}
	if len(out) < 50 {
		t.Fatalf("only %d events read from webhook-permissions.json", len(out))
	}
	return out
}

var levelRank = map[string]int{"read": 1, "write": 2}

func TestManifestWellFormed(t *testing.T) {
	m := readManifest(t)
	if m.Name == "" || m.URL == "" || m.Public {
		t.Errorf("name %q, url %q, public %v: want a named private App", m.Name, m.URL, m.Public)
	}
	if !m.HookAttributes.Active || !strings.HasSuffix(m.HookAttributes.URL, "/webhook") {
		t.Errorf("hook_attributes = %+v: want an active hook on /webhook", m.HookAttributes)
	}
	for p, lv := range m.DefaultPermissions {
		if levelRank[lv] == 0 {
			t.Errorf("permission %s: level %q, want read or write", p, lv)
		}
	}
	if m.DefaultPermissions["metadata"] != "read" {
		t.Errorf("metadata = %q: every App has metadata read", m.DefaultPermissions["metadata"])
	}
	seen := map[string]bool{}
	for _, e := range m.DefaultEvents {
		if seen[e] {
			t.Errorf("event %s listed twice", e)
		}
		seen[e] = true
	}
}

// TestManifestEventsArePermitted checks every subscribed event against the
// permission GitHub requires for it.
func TestManifestEventsArePermitted(t *testing.T) {
	m := readManifest(t)
	reqs := githubRequirements(t)
	for _, e := range m.DefaultEvents {
		r, ok := reqs[e]
		switch {
		case !ok:
			t.Errorf("event %s: GitHub's description names no permission for it; is it a webhook event?", e)
			continue
		case r.always:
			t.Errorf("event %s is delivered to every App and cannot be subscribed to: remove it from default_events", e)
			continue
		}
		granted := false
		for _, name := range r.perms {
			key, known := permissionKey[name]
			if !known {
				t.Errorf("event %s needs %q: add its manifest key to permissionKey", e, name)
				continue
			}
			if levelRank[m.DefaultPermissions[key]] >= levelRank[r.level] {
				granted = true
			}
		}
		if !granted {
			t.Errorf("event %s is never delivered: GitHub says %q; default_permissions has %v", e, r.text, m.DefaultPermissions)
		}
	}
	for e := range alwaysDelivered {
		if r := reqs[e]; !r.always {
			t.Errorf("event %s: GitHub does not say every App receives it (%q)", e, r.text)
		}
	}
}

// TestManifestPermissionsAreUsed keeps the manifest equal to the tables above:
// nothing asked for that promobot does not use, nothing used but not asked.
func TestManifestPermissionsAreUsed(t *testing.T) {
	m := readManifest(t)
	for p, lv := range m.DefaultPermissions {
		use, ok := permissionUse[p]
		switch {
		case !ok:
			t.Errorf("permission %s: %s is asked for but nothing in promobot uses it; remove it or say why in permissionUse", p, lv)
		case use.level != lv:
			t.Errorf("permission %s: manifest asks %s, promobot needs %s", p, lv, use.level)
		}
	}
	for p := range permissionUse {
		if _, ok := m.DefaultPermissions[p]; !ok {
			t.Errorf("permission %s is used (%s) but missing from the manifest", p, permissionUse[p].why)
		}
	}
	got := slices.Clone(m.DefaultEvents)
	sort.Strings(got)
	var want []string
	for e := range eventUse {
		want = append(want, e)
	}
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("default_events = %v, want %v (eventUse)", got, want)
	}
}

func TestParseRequirement(t *testing.T) {
	tests := []struct {
		in    string
		level string
		perms []string
	}{
		{`To subscribe to this event, a GitHub App must have at least read-level access for the "Actions" repository permission.`, "read", []string{"Actions"}},
		{`To subscribe to this event, a GitHub App must have at least read-level access for the "Checks" permission.`, "read", []string{"Checks"}},
		{`To subscribe to this event, a GitHub App must have at least read-level access for the "Members" organization permission.`, "read", []string{"Members"}},
		{`To subscribe to this event, a GitHub App must have at least read-level access for the "Issues" or "Pull requests" repository permissions.`, "read", []string{"Issues", "Pull requests"}},
		{`To install this event on a GitHub App, the app must have at least read-level access for the "Packages" repository permission.`, "read", []string{"Packages"}},
	}
	for _, tc := range tests {
		r, ok := parseRequirement(tc.in)
		if !ok || r.always || r.level != tc.level || !slices.Equal(r.perms, tc.perms) {
			t.Errorf("parseRequirement(%q) = %+v, %v", tc.in, r, ok)
		}
	}
	for _, s := range alwaysTexts {
		if r, ok := parseRequirement(s); !ok || !r.always {
			t.Errorf("always-delivered sentence %q = %+v, %v", s, r, ok)
		}
	}
	if _, ok := parseRequirement("Anyone may subscribe."); ok {
		t.Error("an unreadable sentence was read")
	}
}
