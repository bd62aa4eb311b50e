package githubtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-github/v60/github"
)

// protection is a classic branch protection rule as the REST API sets it.
type protection struct {
	checks        []requiredCheck // nil with hasChecks false: status checks not required
	hasChecks     bool
	strict        bool
	enforceAdmins bool
	approvals     int // required approving reviews; 0 with hasReviews false: none
	hasReviews    bool
	allowForce    bool
	allowDelete   bool
}

type requiredCheck struct {
	Context string `json:"context"`
	AppID   *int64 `json:"app_id"`
}

// RepoSettings are a repository's merge settings, as "Get a repository"
// returns them and "Update a repository" sets them.
type RepoSettings struct {
	AllowMergeCommit, AllowSquashMerge, AllowRebaseMerge, AllowAutoMerge bool
}

// defaultSettings are GitHub's defaults for a new repository.
func defaultSettings() RepoSettings {
	return RepoSettings{AllowMergeCommit: true, AllowSquashMerge: true, AllowRebaseMerge: true}
}

const protectionDocs = "https://docs.github.com/rest/branches/branch-protection"

// SetRepoSettings changes repo's merge settings.
func (s *Server) SetRepoSettings(repoName string, st RepoSettings) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoLocked(repoName)
	if err != nil {
		return err
	}
	r.ci().settings = st
	return nil
}

// RequireChecks protects branch with required status checks named
// contexts (commit status contexts or check run names); strict also
// requires the head to be up to date with the branch.
func (s *Server) RequireChecks(repoName, branch string, strict bool, contexts ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoLocked(repoName)
	if err != nil {
		return err
	}
	p := &protection{hasChecks: true, strict: strict, checks: []requiredCheck{}}
	for _, c := range contexts {
		p.checks = append(p.checks, requiredCheck{Context: c})
	}
	if old := r.ci().protect[branch]; old != nil {
		p.approvals, p.hasReviews, p.enforceAdmins = old.approvals, old.hasReviews, old.enforceAdmins
	}
	s.setProtection(r, branch, p)
	return nil
}

// RequireApprovals protects branch with n required approving reviews.
func (s *Server) RequireApprovals(repoName, branch string, n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoLocked(repoName)
	if err != nil {
		return err
	}
	p := &protection{hasReviews: true, approvals: n}
	if old := r.ci().protect[branch]; old != nil {
		p.checks, p.hasChecks, p.strict = old.checks, old.hasChecks, old.strict
	}
	s.setProtection(r, branch, p)
	return nil
}

func (s *Server) setProtection(r *repo, branch string, p *protection) {
	r.ci().protect[branch] = p
	r.extras().protection[branch] = BranchProtection{AllowForcePushes: p.allowForce, AllowDeletions: p.allowDelete}
	s.checksChangedAll(r)
}

func (c *reqCtx) protectedBranch() (string, bool) {
	g, ok := c.open()
	if !ok {
		return "", false
	}
	b := c.r.PathValue("branch")
	if branchHash(g, b).IsZero() {
		c.refuse(http.StatusNotFound, "Branch not found", protectionDocs)
		return "", false
	}
	return b, true
}

func (s *Server) handlePutProtection(c *reqCtx) {
	branch, ok := c.protectedBranch()
	if !ok {
		return
	}
	var raw map[string]json.RawMessage
	if !c.decode(&raw) {
		return
	}
	var missing []string
	for _, k := range []string{"required_status_checks", "enforce_admins", "required_pull_request_reviews", "restrictions"} {
		if _, ok := raw[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		c.refuse(http.StatusUnprocessableEntity, "Invalid request.\n\n"+notSupplied(missing...), protectionDocs+"#update-branch-protection")
		return
	}
	var in struct {
		RequiredStatusChecks *struct {
			Strict   *bool           `json:"strict"`
			Contexts []string        `json:"contexts"`
			Checks   []requiredCheck `json:"checks"`
		} `json:"required_status_checks"`
		EnforceAdmins  *bool `json:"enforce_admins"`
		RequiredReview *struct {
			Count *int `json:"required_approving_review_count"`
		} `json:"required_pull_request_reviews"`
		AllowForcePushes *bool `json:"allow_force_pushes"`
		AllowDeletions   *bool `json:"allow_deletions"`
	}
	if err := json.Unmarshal(c.body, &in); err != nil {
		c.refuse(http.StatusUnprocessableEntity, "Invalid request.\n\n"+err.Error(), protectionDocs+"#update-branch-protection")
		return
	}
	p := &protection{enforceAdmins: in.EnforceAdmins != nil && *in.EnforceAdmins,
		allowForce: in.AllowForcePushes != nil && *in.AllowForcePushes, allowDelete: in.AllowDeletions != nil && *in.AllowDeletions}
	if rsc := in.RequiredStatusChecks; rsc != nil {
		var miss []string
		if rsc.Strict == nil {
			miss = append(miss, "strict")
		}
		if rsc.Contexts == nil && rsc.Checks == nil {
			miss = append(miss, "contexts")
		}
		if len(miss) > 0 {
			c.refuse(http.StatusUnprocessableEntity, "Invalid request.\n\n"+notSupplied(miss...), protectionDocs+"#update-branch-protection")
			return
		}
		p.hasChecks, p.strict, p.checks = true, *rsc.Strict, []requiredCheck{}
		seen := map[string]bool{}
		for _, ch := range rsc.Checks {
			if ch.Context == "" {
				c.refuse(http.StatusUnprocessableEntity, "Invalid request.\n\n"+notSupplied("context"), protectionDocs+"#update-branch-protection")
				return
			}
			if !seen[ch.Context] {
				seen[ch.Context] = true
				p.checks = append(p.checks, ch)
			}
		}
		for _, ctx := range rsc.Contexts {
			if !seen[ctx] {
				seen[ctx] = true
				p.checks = append(p.checks, requiredCheck{Context: ctx})
			}
		}
	}
	if rv := in.RequiredReview; rv != nil {
		p.hasReviews, p.approvals = true, 1
		if rv.Count != nil {
			if *rv.Count < 0 || *rv.Count > 6 {
				c.refuse(http.StatusUnprocessableEntity, "Invalid request.\n\nrequired_approving_review_count must be between 0 and 6.", protectionDocs+"#update-branch-protection")
				return
			}
			p.approvals = *rv.Count
		}
	}
	s.setProtection(c.repo, branch, p)
	c.json(http.StatusOK, s.protectionJSON(c.repo, branch, p))
}

func (s *Server) handleGetProtection(c *reqCtx) {
	branch, ok := c.protectedBranch()
	if !ok {
		return
	}
	p := c.repo.ci().protect[branch]
	if p == nil {
		c.refuse(http.StatusNotFound, "Branch not protected", protectionDocs+"#get-branch-protection")
		return
	}
	c.json(http.StatusOK, s.protectionJSON(c.repo, branch, p))
}

func (s *Server) handleDeleteProtection(c *reqCtx) {
	branch, ok := c.protectedBranch()
	if !ok {
		return
	}
	if c.repo.ci().protect[branch] == nil {
		c.refuse(http.StatusNotFound, "Branch not protected", protectionDocs+"#delete-branch-protection")
		return
	}
	delete(c.repo.ci().protect, branch)
	delete(c.repo.extras().protection, branch)
	s.checksChangedAll(c.repo)
	c.w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleGetRequiredChecks(c *reqCtx) {
	branch, ok := c.protectedBranch()
	if !ok {
		return
	}
	p := c.repo.ci().protect[branch]
	switch {
	case p == nil:
		c.refuse(http.StatusNotFound, "Branch not protected", protectionDocs+"#get-status-checks-protection")
	case !p.hasChecks:
		c.refuse(http.StatusNotFound, "Required status checks not enabled", protectionDocs+"#get-status-checks-protection")
	default:
		c.json(http.StatusOK, s.requiredChecksJSON(c.repo, branch, p))
	}
}

func (s *Server) requiredChecksJSON(r *repo, branch string, p *protection) map[string]any {
	u := s.apiURL(r, "branches", branch, "protection", "required_status_checks")
	contexts := make([]string, 0, len(p.checks))
	for _, ch := range p.checks {
		contexts = append(contexts, ch.Context)
	}
	return map[string]any{"url": u, "strict": p.strict, "contexts": contexts, "checks": p.checks, "contexts_url": u + "/contexts"}
}

func (s *Server) protectionJSON(r *repo, branch string, p *protection) map[string]any {
	u := s.apiURL(r, "branches", branch, "protection")
	out := map[string]any{
		"url":                              u,
		"enforce_admins":                   map[string]any{"url": u + "/enforce_admins", "enabled": p.enforceAdmins},
		"required_linear_history":          map[string]any{"enabled": false},
		"allow_force_pushes":               map[string]any{"enabled": p.allowForce},
		"allow_deletions":                  map[string]any{"enabled": p.allowDelete},
		"block_creations":                  map[string]any{"enabled": false},
		"required_conversation_resolution": map[string]any{"enabled": false},
		"lock_branch":                      map[string]any{"enabled": false},
		"allow_fork_syncing":               map[string]any{"enabled": false},
	}
	if p.hasChecks {
		out["required_status_checks"] = s.requiredChecksJSON(r, branch, p)
	}
	if p.hasReviews {
		out["required_pull_request_reviews"] = map[string]any{"url": u + "/required_pull_request_reviews",
			"dismiss_stale_reviews": false, "require_code_owner_reviews": false, "require_last_push_approval": false,
			"required_approving_review_count": p.approvals}
	}
	return out
}

func (s *Server) handleUpdateRepo(c *reqCtx) {
	var in struct {
		AllowMergeCommit *bool `json:"allow_merge_commit"`
		AllowSquashMerge *bool `json:"allow_squash_merge"`
		AllowRebaseMerge *bool `json:"allow_rebase_merge"`
		AllowAutoMerge   *bool `json:"allow_auto_merge"`
	}
	if !c.decode(&in) {
		return
	}
	st := c.repo.ci().settings
	for _, f := range []struct {
		in  *bool
		out *bool
	}{{in.AllowMergeCommit, &st.AllowMergeCommit}, {in.AllowSquashMerge, &st.AllowSquashMerge},
		{in.AllowRebaseMerge, &st.AllowRebaseMerge}, {in.AllowAutoMerge, &st.AllowAutoMerge}} {
		if f.in != nil {
			*f.out = *f.in
		}
	}
	if !st.AllowMergeCommit && !st.AllowSquashMerge && !st.AllowRebaseMerge {
		c.unprocessable("", fieldError{Resource: "Repository", Code: "invalid", Field: "merge_commit_allowed",
			Message: "Sorry, you need to allow at least one merge strategy. (no_merge_method)"})
		return
	}
	c.repo.ci().settings = st
	c.json(http.StatusOK, s.repoResponse(c.repo))
}

// checkState is how a required check stands on a commit, in the words of
// GitHub's merge refusal: "" (passing), "expected", "in progress", "failing".
func checkState(r *repo, sha, name string) string {
	var run *checkRun
	for _, cr := range r.ci().runs {
		if cr.headSHA == sha && cr.name == name {
			run = cr
		}
	}
	if run != nil {
		switch {
		case run.status != "completed":
			return "in progress"
		case run.conclusion == "success" || run.conclusion == "neutral" || run.conclusion == "skipped":
			return ""
		default:
			return "failing"
		}
	}
	for _, st := range latestStatuses(r, sha) {
		if st.GetContext() == name {
			switch st.GetState() {
			case "success":
				return ""
			case "pending":
				return "expected"
			default:
				return "failing"
			}
		}
	}
	return "expected"
}

// allChecksPass: every latest status and check run on sha passes (none: true).
func allChecksPass(r *repo, sha string) bool {
	names := map[string]bool{}
	for _, st := range latestStatuses(r, sha) {
		names[st.GetContext()] = true
	}
	for _, cr := range r.ci().runs {
		if cr.headSHA == sha {
			names[cr.name] = true
		}
	}
	for n := range names {
		if checkState(r, sha, n) != "" {
			return false
		}
	}
	return true
}

// blocker is why base's protection refuses merging head now ("" if it
// does not): GitHub's 405 message.
func (s *Server) blocker(r *repo, is *issue, baseSHA string) string {
	p := r.ci().protect[is.pr.base]
	if p == nil {
		return ""
	}
	for _, ch := range p.checks {
		if st := checkState(r, is.pr.headSHA, ch.Context); st != "" {
			return fmt.Sprintf("Required status check %q is %s.", ch.Context, st)
		}
	}
	if p.hasReviews && p.approvals > 0 {
		if n := approvals(r, is); n < p.approvals {
			if p.approvals == 1 {
				return "At least 1 approving review is required by reviewers with write access."
			}
			return fmt.Sprintf("At least %d approving reviews are required by reviewers with write access.", p.approvals)
		}
	}
	if p.strict {
		if g, err := r.open(); err == nil && !isAncestor(g, plumbing.NewHash(baseSHA), plumbing.NewHash(is.pr.headSHA)) {
			return "Head branch is not up to date with the base branch."
		}
	}
	return ""
}

// mergeMethodRefusal is GitHub's answer to a merge method the repository's
// settings do not allow ("" if allowed).
func mergeMethodRefusal(r *repo, method string) string {
	st := r.ci().settings
	switch method {
	case "", "merge":
		if !st.AllowMergeCommit {
			return "Merge commits are not allowed on this repository."
		}
	case "squash":
		if !st.AllowSquashMerge {
			return "Squash merges are not allowed on this repository."
		}
	case "rebase":
		if !st.AllowRebaseMerge {
			return "Rebase merges are not allowed on this repository."
		}
	}
	return ""
}

// mergeState is mergeable and mergeable_state as a read answers them:
// null and "unknown" until a GET after the head or base moved has started
// GitHub's background computation (pullRead), computed from then on.
func (s *Server) mergeState(r *repo, is *issue, baseSHA string) (mergeable *bool, state string) {
	if r.ci().settled[is.number] != is.pr.headSHA+".."+baseSHA {
		return nil, "unknown"
	}
	return s.computeMergeState(r, is, baseSHA)
}

// computeMergeState is mergeable and mergeable_state as of now.
func (s *Server) computeMergeState(r *repo, is *issue, baseSHA string) (mergeable *bool, state string) {
	pr := is.pr
	_, clean, err := mergeTree(r, baseSHA, pr.headSHA)
	if err != nil {
		return nil, "unknown"
	}
	switch {
	case !clean:
		return github.Bool(false), "dirty"
	case pr.draft:
		return github.Bool(true), "draft"
	}
	if b := s.blocker(r, is, baseSHA); strings.HasPrefix(b, "Head branch is not up to date") {
		return github.Bool(true), "behind"
	} else if b != "" {
		return github.Bool(true), "blocked"
	}
	if !allChecksPass(r, pr.headSHA) {
		return github.Bool(true), "unstable"
	}
	return github.Bool(true), "clean"
}

// Settle finishes GitHub's background mergeability computation for pull
// request number: the next read answers mergeable and mergeable_state.
func (s *Server) Settle(repoName string, number int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoLocked(repoName)
	if err != nil {
		return err
	}
	is := r.issues[number]
	if is == nil || is.pr == nil {
		return fmt.Errorf("pull request %d not found in %s", number, repoName)
	}
	r.ci().settled[number] = is.pr.headSHA + ".." + s.baseTip(r, is)
	return nil
}

// pullRead starts the background computation a GET of a pull request
// triggers; the next read sees its result.
func (s *Server) pullRead(r *repo, is *issue) {
	if is.state == "open" {
		r.ci().settled[is.number] = is.pr.headSHA + ".." + s.baseTip(r, is)
	}
}

func (s *Server) baseTip(r *repo, is *issue) string {
	if g, err := r.open(); err == nil && is.state == "open" {
		if h := branchHash(g, is.pr.base); !h.IsZero() {
			return h.String()
		}
	}
	return is.pr.baseSHA
}
