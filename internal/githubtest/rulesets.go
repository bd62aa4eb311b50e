package githubtest

import (
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"weak"
)

// Ruleset is a repository ruleset on branches, reduced to the rules that
// refuse moving or deleting a ref: "Block force pushes" (non_fast_forward)
// and "Restrict deletions" (deletion). Organisation rulesets that reach a
// repository behave the same way, so tests need no separate notion of them.
type Ruleset struct {
	Name string
	// Include and Exclude are ref_name conditions as GitHub stores them:
	// "~ALL", "~DEFAULT_BRANCH" or an fnmatch pattern on "refs/heads/…"
	// ("*" stays within one path segment, "**" crosses them). A pattern
	// without the refs/heads/ prefix is taken as a branch name.
	Include, Exclude []string
	NonFastForward   bool
	Deletion         bool
}

// BranchProtection is a classic branch protection rule: force pushes and
// deletions are refused unless allowed, as GitHub defaults them.
type BranchProtection struct {
	AllowForcePushes bool
	AllowDeletions   bool
}

// repoExtras is per-repository state this file and reviewers.go add to a
// repo; it is guarded by the owning Server's mu like the repo itself.
type repoExtras struct {
	rulesets   []Ruleset
	protection map[string]BranchProtection // branch pattern -> rule
	teamPerms  map[string]string           // lower-case team slug -> pull|triage|push|maintain|admin|none
}

// extrasOf holds each repo's extras beside it (the repo type belongs to
// repo.go). It is keyed weakly, and an entry goes when its repo does, so
// servers closed by earlier tests leave nothing behind.
var extrasOf sync.Map // weak.Pointer[repo] -> *repoExtras

func (r *repo) extras() *repoExtras {
	k := weak.Make(r)
	if x, ok := extrasOf.Load(k); ok {
		return x.(*repoExtras)
	}
	x, loaded := extrasOf.LoadOrStore(k, &repoExtras{protection: map[string]BranchProtection{}, teamPerms: map[string]string{}})
	if !loaded {
		runtime.AddCleanup(r, func(k weak.Pointer[repo]) { extrasOf.Delete(k) }, k)
	}
	return x.(*repoExtras)
}

// AddRuleset adds a branch ruleset to repo (active, no bypass actors).
func (s *Server) AddRuleset(repoName string, rs Ruleset) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoLocked(repoName)
	if err != nil {
		return err
	}
	if len(rs.Include) == 0 {
		return fmt.Errorf("ruleset %q targets no branch", rs.Name)
	}
	rs.Include = append([]string(nil), rs.Include...)
	rs.Exclude = append([]string(nil), rs.Exclude...)
	x := r.extras()
	x.rulesets = append(x.rulesets, rs)
	return nil
}

// ProtectBranch protects the branches matching pattern (a branch name or
// fnmatch pattern, as in the classic settings page) with p.
func (s *Server) ProtectBranch(repoName, pattern string, p BranchProtection) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoLocked(repoName)
	if err != nil {
		return err
	}
	if pattern == "" {
		return fmt.Errorf("empty branch pattern")
	}
	r.extras().protection[pattern] = p
	return nil
}

// refMatches reports whether the ref_name condition pattern matches the
// full ref name ref of repo r.
func refMatches(r *repo, pattern, ref string) bool {
	switch pattern {
	case "~ALL":
		return true
	case "~DEFAULT_BRANCH":
		return ref == "refs/heads/"+r.defaultBranch
	}
	if !strings.HasPrefix(pattern, "refs/") {
		pattern = "refs/heads/" + pattern
	}
	return fnmatch(pattern, ref)
}

// fnmatch matches name against pattern: "**" matches any run of
// characters, "*" any run within one path segment, "?" one character
// other than "/"; everything else matches itself.
func fnmatch(pattern, name string) bool {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch {
		case strings.HasPrefix(pattern[i:], "**"):
			b.WriteString(".*")
			i++
		case pattern[i] == '*':
			b.WriteString("[^/]*")
		case pattern[i] == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	return err == nil && re.MatchString(name)
}

// refRules is what the rules of r say about one branch.
type refRules struct {
	rulesetNoForce, rulesetNoDelete     bool
	protected, protectedNoForce, noDrop bool
}

func (r *repo) rulesFor(ref string) refRules {
	var out refRules
	x := r.extras()
	for _, rs := range x.rulesets {
		in := false
		for _, p := range rs.Include {
			in = in || refMatches(r, p, ref)
		}
		for _, p := range rs.Exclude {
			in = in && !refMatches(r, p, ref)
		}
		if in {
			out.rulesetNoForce = out.rulesetNoForce || rs.NonFastForward
			out.rulesetNoDelete = out.rulesetNoDelete || rs.Deletion
		}
	}
	for pattern, p := range x.protection {
		if refMatches(r, pattern, ref) {
			out.protected = true
			out.protectedNoForce = out.protectedNoForce || !p.AllowForcePushes
			out.noDrop = out.noDrop || !p.AllowDeletions
		}
	}
	return out
}

const refDocs = "https://docs.github.com/rest/git/refs#update-a-reference"

// ruleViolation is how GitHub words a ruleset's refusal through the REST
// API: a fixed first line, then each broken rule in its own paragraph.
func ruleViolation(rules ...string) string {
	return "Repository rule violations found\n\n" + strings.Join(rules, "\n\n") + "\n\n"
}

// refusesForce answers GitHub's refusal of a forced (not fast-forward)
// update of ref, if a rule forbids it; it reports whether it answered.
func (c *reqCtx) refusesForce(ref string) bool {
	rr := c.repo.rulesFor(ref)
	switch {
	case rr.rulesetNoForce:
		c.refuse(422, ruleViolation("Cannot force-push to this branch"), refDocs)
	case rr.protectedNoForce:
		c.refuse(422, "Cannot force-push to this branch", refDocs)
	default:
		return false
	}
	return true
}

// refusesDelete answers GitHub's refusal to delete ref, if a rule forbids it.
func (c *reqCtx) refusesDelete(ref string) bool {
	rr := c.repo.rulesFor(ref)
	switch {
	case rr.rulesetNoDelete:
		c.refuse(422, ruleViolation("Cannot delete this branch"), "https://docs.github.com/rest/git/refs#delete-a-reference")
	case rr.noDrop:
		c.refuse(422, "Cannot delete this branch", "https://docs.github.com/rest/git/refs#delete-a-reference")
	default:
		return false
	}
	return true
}

// refuse answers status with GitHub's current error shape: the message,
// the operation's documentation and the status repeated as a string.
func (c *reqCtx) refuse(status int, msg, doc string) {
	c.json(status, map[string]string{"message": msg, "documentation_url": doc, "status": fmt.Sprint(status)})
}
