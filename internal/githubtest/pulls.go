package githubtest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/go-github/v60/github"
)

type pull struct {
	head, base string
	headSHA    string // branch tip while open; frozen when closed
	baseSHA    string
	draft      bool
	merged     bool
	mergedAt   time.Time
	mergedBy   *github.User
	mergeSHA   string
	reviewers  []string
	teams      []string
}

// PR is a snapshot of a pull request for test assertions.
type PR struct {
	Number        int
	Title, Body   string
	Head, Base    string // branch names
	HeadSHA       string
	State         string // "open" or "closed"
	Merged        bool
	MergeSHA      string
	Labels        []string
	Reviewers     []string
	TeamReviewers []string
	HTMLURL       string
}

// PullRequests lists the pull requests of repo by number.
func (s *Server) PullRequests(repoName string) []PR {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[repoName]
	if r == nil {
		return nil
	}
	var out []PR
	for _, n := range sortedNumbers(r) {
		is := r.issues[n]
		if is.pr == nil {
			continue
		}
		out = append(out, PR{Number: n, Title: is.title, Body: is.body, Head: is.pr.head, Base: is.pr.base,
			HeadSHA: is.pr.headSHA, State: is.state, Merged: is.pr.merged, MergeSHA: is.pr.mergeSHA,
			Labels:        append([]string(nil), is.labels...),
			Reviewers:     append([]string(nil), is.pr.reviewers...),
			TeamReviewers: append([]string(nil), is.pr.teams...),
			HTMLURL:       s.htmlURL(r, "pull", strconv.Itoa(n))})
	}
	return out
}

// mergeTree merges head into base with `git merge-tree --write-tree`; clean is
// false on conflicts.
func mergeTree(r *repo, base, head string) (tree plumbing.Hash, clean bool, err error) {
	out, err := runGit(context.Background(), r.dir, nil, "merge-tree", "--write-tree", "--no-messages", "--name-only", base, head)
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
		return plumbing.ZeroHash, false, err
	}
	first, _, _ := strings.Cut(string(out), "\n")
	h, ok := parseHash(strings.TrimSpace(first))
	if !ok {
		return plumbing.ZeroHash, false, fmt.Errorf("merge-tree: unexpected output %q", first)
	}
	return h, err == nil, nil
}

func (s *Server) teamJSON(org, slug string) *github.Team {
	h := s.user(org+"/"+slug, "Team").GetID()
	return &github.Team{ID: github.Int64(h), NodeID: github.String(fmt.Sprintf("T_%d", h)), Name: github.String(slug), Slug: github.String(slug),
		URL:        github.String(fmt.Sprintf("%sorgs/%s/teams/%s", s.APIURL(), org, slug)),
		HTMLURL:    github.String(fmt.Sprintf("%s/orgs/%s/teams/%s", s.URL(), org, slug)),
		Permission: github.String("pull"), Privacy: github.String("closed")}
}

func (s *Server) pullJSON(r *repo, is *issue, detailed bool) *github.PullRequest {
	pr := is.pr
	n := strconv.Itoa(is.number)
	g, err := r.open()
	baseSHA := pr.baseSHA
	if err == nil && is.state == "open" {
		if h := branchHash(g, pr.base); !h.IsZero() {
			baseSHA = h.String()
		}
	}
	owner := s.user(r.owner, "Organization")
	out := &github.PullRequest{
		ID: github.Int64(is.id), NodeID: github.String(fmt.Sprintf("PR_%d", is.id)), Number: github.Int(is.number),
		State: github.String(is.state), Locked: github.Bool(false), Title: github.String(is.title), Body: github.String(is.body),
		User: is.user, Labels: s.labelsJSON(r, is), Draft: github.Bool(pr.draft),
		CreatedAt: ts(is.created), UpdatedAt: ts(is.updated),
		URL:               github.String(s.apiURL(r, "pulls", n)),
		HTMLURL:           github.String(s.htmlURL(r, "pull", n)),
		IssueURL:          github.String(s.apiURL(r, "issues", n)),
		DiffURL:           github.String(s.htmlURL(r, "pull", n) + ".diff"),
		PatchURL:          github.String(s.htmlURL(r, "pull", n) + ".patch"),
		CommitsURL:        github.String(s.apiURL(r, "pulls", n, "commits")),
		CommentsURL:       github.String(s.apiURL(r, "issues", n, "comments")),
		StatusesURL:       github.String(s.apiURL(r, "statuses", pr.headSHA)),
		AuthorAssociation: github.String(s.association(r, is.user.GetLogin())),
		Head: &github.PullRequestBranch{Label: github.String(r.owner + ":" + pr.head), Ref: github.String(pr.head),
			SHA: github.String(pr.headSHA), Repo: s.repoJSON(r), User: owner},
		Base: &github.PullRequestBranch{Label: github.String(r.owner + ":" + pr.base), Ref: github.String(pr.base),
			SHA: github.String(baseSHA), Repo: s.repoJSON(r), User: owner},
		RequestedReviewers: []*github.User{}, RequestedTeams: []*github.Team{},
		MaintainerCanModify: github.Bool(false),
	}
	for _, u := range pr.reviewers {
		out.RequestedReviewers = append(out.RequestedReviewers, s.user(u, "User"))
	}
	for _, t := range pr.teams {
		out.RequestedTeams = append(out.RequestedTeams, s.teamJSON(r.owner, t))
	}
	if !is.closed.IsZero() {
		out.ClosedAt = ts(is.closed)
	}
	if pr.merged {
		out.MergedAt = ts(pr.mergedAt)
		out.MergeCommitSHA = github.String(pr.mergeSHA)
	}
	if !detailed && !pr.merged {
		return out
	}
	out.Merged = github.Bool(pr.merged)
	out.Comments = github.Int(len(is.comments))
	out.ReviewComments = github.Int(0)
	if pr.merged {
		out.MergedBy = pr.mergedBy
		out.MergeableState = github.String("unknown")
	}
	if err != nil {
		return out
	}
	if is.state == "open" {
		var state string
		out.Mergeable, state = s.mergeState(r, is, baseSHA)
		out.MergeableState, out.Rebaseable = github.String(state), out.Mergeable
		out.AutoMerge = s.autoMergeJSON(r, is)
	}
	if files, err := s.prFiles(r, g, baseSHA, pr.headSHA); err == nil {
		add, del := 0, 0
		for _, f := range files {
			add += f.GetAdditions()
			del += f.GetDeletions()
		}
		out.Additions, out.Deletions, out.ChangedFiles = github.Int(add), github.Int(del), github.Int(len(files))
	}
	if mb, err := mergeBase(g, plumbing.NewHash(baseSHA), plumbing.NewHash(pr.headSHA)); err == nil {
		if out2, err := runGit(context.Background(), r.dir, nil, "rev-list", "--count", pr.headSHA, "^"+mb.String()); err == nil {
			n, _ := strconv.Atoi(strings.TrimSpace(string(out2)))
			out.Commits = github.Int(n)
		}
	}
	return out
}

func (c *reqCtx) pull() (*issue, bool) {
	n, ok := c.intParam("pull_number")
	if !ok {
		return nil, false
	}
	is := c.repo.issues[n]
	if is == nil || is.pr == nil {
		c.error(http.StatusNotFound, "Not Found")
		return nil, false
	}
	return is, true
}

func (s *Server) handleCreatePull(c *reqCtx) {
	var in struct {
		Title *string `json:"title"`
		Head  string  `json:"head"`
		Base  string  `json:"base"`
		Body  string  `json:"body"`
		Draft bool    `json:"draft"`
	}
	if !c.decode(&in) {
		return
	}
	var missing []fieldError
	for _, f := range []struct{ name, v string }{{"head", in.Head}, {"base", in.Base}} {
		if f.v == "" {
			missing = append(missing, fieldError{Resource: "PullRequest", Field: f.name, Code: "missing_field"})
		}
	}
	if len(missing) > 0 {
		c.unprocessable("", missing...)
		return
	}
	if in.Title == nil || strings.TrimSpace(*in.Title) == "" {
		c.unprocessable("", fieldError{Resource: "Issue", Field: "title", Code: "missing_field"})
		return
	}
	if errs := textTooLong(in.Title, &in.Body); len(errs) > 0 {
		c.unprocessable("", errs...)
		return
	}
	r := c.repo
	head := in.Head
	if o, b, ok := strings.Cut(in.Head, ":"); ok {
		if o != r.owner {
			c.unprocessable("", fieldError{Resource: "PullRequest", Field: "head", Code: "invalid"})
			return
		}
		head = b
	}
	g, ok := c.open()
	if !ok {
		return
	}
	baseH, headH := branchHash(g, in.Base), branchHash(g, head)
	if baseH.IsZero() {
		c.unprocessable("", fieldError{Resource: "PullRequest", Field: "base", Code: "invalid"})
		return
	}
	if headH.IsZero() {
		c.unprocessable("", fieldError{Resource: "PullRequest", Field: "head", Code: "invalid"})
		return
	}
	for _, is := range r.issues {
		if is.pr != nil && is.state == "open" && is.pr.head == head && is.pr.base == in.Base {
			c.unprocessable("", fieldError{Resource: "PullRequest", Code: "custom", Message: fmt.Sprintf("A pull request already exists for %s:%s.", r.owner, head)})
			return
		}
	}
	if isAncestor(g, headH, baseH) {
		c.unprocessable("", fieldError{Resource: "PullRequest", Code: "custom", Message: fmt.Sprintf("No commits between %s and %s", in.Base, head)})
		return
	}
	is := s.newIssue(r, *in.Title, in.Body, c.p.asUser(s))
	is.pr = &pull{head: head, base: in.Base, headSHA: headH.String(), baseSHA: baseH.String(), draft: in.Draft}
	s.sendPullRequest(r, is, "opened", c.p.asUser(s), nil)
	c.w.Header().Set("Location", s.apiURL(r, "pulls", strconv.Itoa(is.number)))
	c.json(http.StatusCreated, s.pullDetail(r, is))
}

// GitHub's limits on a pull request's (an issue's) title and body, counted
// in characters.
const (
	maxTitleChars = 256
	maxBodyChars  = 65536
)

// textTooLong lists the validation errors GitHub answers for an over-long
// title or body (nil: not sent).
func textTooLong(title, body *string) []fieldError {
	var errs []fieldError
	if title != nil && utf8.RuneCountInString(*title) > maxTitleChars {
		errs = append(errs, fieldError{Resource: "Issue", Field: "title", Code: "custom",
			Message: fmt.Sprintf("title is too long (maximum is %d characters)", maxTitleChars)})
	}
	if body != nil && utf8.RuneCountInString(*body) > maxBodyChars {
		errs = append(errs, fieldError{Resource: "Issue", Field: "body", Code: "custom",
			Message: fmt.Sprintf("body is too long (maximum is %d characters)", maxBodyChars)})
	}
	return errs
}

func (s *Server) handleListPulls(c *reqCtx) {
	q := c.r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	if state != "open" && state != "closed" && state != "all" {
		c.unprocessable("", fieldError{Resource: "PullRequest", Field: "state", Code: "invalid"})
		return
	}
	headOwner, headBranch, hasBranch := strings.Cut(q.Get("head"), ":")
	base := q.Get("base")
	var list []*issue
	for _, is := range c.repo.issues {
		if is.pr == nil || (state != "all" && is.state != state) || (base != "" && is.pr.base != base) {
			continue
		}
		if headOwner != "" && (headOwner != c.repo.owner || (hasBranch && is.pr.head != headBranch)) {
			continue
		}
		list = append(list, is)
	}
	asc := q.Get("direction") == "asc"
	byUpdated := q.Get("sort") == "updated"
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		less := a.number < b.number
		if byUpdated && !a.updated.Equal(b.updated) {
			less = a.updated.Before(b.updated)
		}
		if asc {
			return less
		}
		return !less
	})
	out := []*github.PullRequest{}
	for _, is := range paginate(c, list) {
		out = append(out, s.pullJSON(c.repo, is, false))
	}
	c.json(http.StatusOK, out)
}

func (s *Server) handleGetPull(c *reqCtx) {
	if is, ok := c.pull(); ok {
		c.json(http.StatusOK, s.pullDetail(c.repo, is))
		s.pullRead(c.repo, is)
	}
}

func (s *Server) handleUpdatePull(c *reqCtx) {
	is, ok := c.pull()
	if !ok {
		return
	}
	var in struct {
		Title *string `json:"title"`
		Body  *string `json:"body"`
		State *string `json:"state"`
		Base  *string `json:"base"`
	}
	if !c.decode(&in) {
		return
	}
	if errs := textTooLong(in.Title, in.Body); len(errs) > 0 {
		c.unprocessable("", errs...)
		return
	}
	r := c.repo
	g, ok := c.open()
	if !ok {
		return
	}
	changes := &github.EditChange{}
	edited := false
	if in.Title != nil && *in.Title != is.title {
		if strings.TrimSpace(*in.Title) == "" {
			c.unprocessable("", fieldError{Resource: "Issue", Field: "title", Code: "missing_field"})
			return
		}
		changes.Title = &github.EditTitle{From: github.String(is.title)}
		is.title, edited = *in.Title, true
	}
	if in.Body != nil && *in.Body != is.body {
		changes.Body = &github.EditBody{From: github.String(is.body)}
		is.body, edited = *in.Body, true
	}
	if in.Base != nil && *in.Base != is.pr.base {
		if branchHash(g, *in.Base).IsZero() {
			c.unprocessable("", fieldError{Resource: "PullRequest", Field: "base", Code: "invalid"})
			return
		}
		changes.Base = &github.EditBase{Ref: &github.EditRef{From: github.String(is.pr.base)}, SHA: &github.EditSHA{From: github.String(is.pr.baseSHA)}}
		is.pr.base, edited = *in.Base, true
	}
	sender := c.p.asUser(s)
	if edited {
		is.updated = now()
		s.sendPullRequest(r, is, "edited", sender, changes)
	}
	if in.State != nil && *in.State != is.state {
		switch {
		case *in.State != "open" && *in.State != "closed":
			c.unprocessable("", fieldError{Resource: "PullRequest", Field: "state", Code: "invalid"})
			return
		case is.pr.merged:
			c.unprocessable("Cannot change the state of a merged pull request")
			return
		case *in.State == "closed":
			s.closeIssue(is)
			s.sendPullRequest(r, is, "closed", sender, nil)
		default:
			h := branchHash(g, is.pr.head)
			if h.IsZero() {
				c.unprocessable("", fieldError{Resource: "PullRequest", Field: "state", Code: "invalid", Message: "state cannot be changed. The head branch was deleted."})
				return
			}
			is.state, is.closed, is.updated = "open", time.Time{}, now()
			is.pr.headSHA = h.String()
			s.sendPullRequest(r, is, "reopened", sender, nil)
		}
	}
	c.json(http.StatusOK, s.pullDetail(r, is))
}

// prFiles lists the files changed between the merge base of base and head, and head.
func (s *Server) prFiles(r *repo, g *git.Repository, baseSHA, headSHA string) ([]*github.CommitFile, error) {
	head, err := g.CommitObject(plumbing.NewHash(headSHA))
	if err != nil {
		return nil, err
	}
	mb, err := mergeBase(g, plumbing.NewHash(baseSHA), head.Hash)
	if err != nil {
		return nil, err
	}
	var from *object.Tree
	if !mb.IsZero() {
		mc, err := g.CommitObject(mb)
		if err != nil {
			return nil, err
		}
		if from, err = mc.Tree(); err != nil {
			return nil, err
		}
	}
	to, err := head.Tree()
	if err != nil {
		return nil, err
	}
	return s.diffFiles(r, from, to, headSHA)
}

// diffFiles lists changed files between two trees (nil: empty) like GitHub's
// "files" arrays; ref is the revision used in links.
func (s *Server) diffFiles(r *repo, from, to *object.Tree, ref string) ([]*github.CommitFile, error) {
	changes, err := object.DiffTree(from, to)
	if err != nil {
		return nil, err
	}
	out := []*github.CommitFile{}
	for _, ch := range changes {
		name, status, blob := ch.To.Name, "modified", ch.To.TreeEntry.Hash
		switch {
		case ch.From.Name == "":
			status = "added"
		case ch.To.Name == "":
			name, status, blob = ch.From.Name, "removed", ch.From.TreeEntry.Hash
		}
		f := &github.CommitFile{SHA: github.String(blob.String()), Filename: github.String(name), Status: github.String(status),
			BlobURL:     github.String(s.htmlURL(r, "blob", ref, name)),
			RawURL:      github.String(s.htmlURL(r, "raw", ref, name)),
			ContentsURL: github.String(s.apiURL(r, "contents", name) + "?ref=" + ref)}
		p, err := ch.Patch()
		if err != nil {
			return nil, err
		}
		add, del := 0, 0
		for _, st := range p.Stats() {
			add += st.Addition
			del += st.Deletion
		}
		f.Additions, f.Deletions, f.Changes = github.Int(add), github.Int(del), github.Int(add+del)
		if text := p.String(); text != "" {
			if i := strings.Index(text, "@@"); i >= 0 {
				f.Patch = github.String(strings.TrimSuffix(text[i:], "\n"))
			}
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetFilename() < out[j].GetFilename() })
	return out, nil
}

func (s *Server) handlePullFiles(c *reqCtx) {
	is, ok := c.pull()
	if !ok {
		return
	}
	g, ok := c.open()
	if !ok {
		return
	}
	base := is.pr.baseSHA
	if h := branchHash(g, is.pr.base); is.state == "open" && !h.IsZero() {
		base = h.String()
	}
	files, err := s.prFiles(c.repo, g, base, is.pr.headSHA)
	if err != nil {
		c.error(http.StatusInternalServerError, err.Error())
		return
	}
	c.json(http.StatusOK, paginate(c, files))
}

type mergeOpts struct {
	CommitTitle   string  `json:"commit_title"`
	CommitMessage *string `json:"commit_message"`
	SHA           string  `json:"sha"`
	MergeMethod   string  `json:"merge_method"`
}

// merge merges a pull request like the merge button; status is the HTTP answer.
func (s *Server) merge(r *repo, is *issue, user *github.User, o mergeOpts) (sha string, status int, msg string) {
	pr := is.pr
	if is.state != "open" || pr.merged {
		return "", http.StatusMethodNotAllowed, "Pull Request is not mergeable"
	}
	if o.SHA != "" && o.SHA != pr.headSHA {
		return "", http.StatusConflict, "Head branch was modified. Review and try the merge again."
	}
	g, err := r.open()
	if err != nil {
		return "", http.StatusInternalServerError, err.Error()
	}
	baseH, headH := branchHash(g, pr.base), plumbing.NewHash(pr.headSHA)
	if baseH.IsZero() {
		return "", http.StatusMethodNotAllowed, "Pull Request is not mergeable"
	}
	if msg := mergeMethodRefusal(r, o.MergeMethod); msg != "" {
		return "", http.StatusMethodNotAllowed, msg
	}
	if msg := s.blocker(r, is, baseH.String()); msg != "" {
		return "", http.StatusMethodNotAllowed, msg
	}
	tree, clean, err := mergeTree(r, baseH.String(), headH.String())
	if err != nil {
		return "", http.StatusInternalServerError, err.Error()
	}
	if !clean {
		return "", http.StatusMethodNotAllowed, "Pull Request is not mergeable"
	}
	n := strconv.Itoa(is.number)
	var title, body string
	var parents []plumbing.Hash
	switch o.MergeMethod {
	case "", "merge":
		title = fmt.Sprintf("Merge pull request #%d from %s/%s", is.number, r.owner, pr.head)
		body = is.title
		parents = []plumbing.Hash{baseH, headH}
	case "squash":
		title = is.title + " (#" + n + ")"
		parents = []plumbing.Hash{baseH}
	default:
		return "", http.StatusMethodNotAllowed, "Rebase merges are not allowed on this repository."
	}
	if o.CommitTitle != "" {
		title = o.CommitTitle
	}
	if o.CommitMessage != nil {
		body = *o.CommitMessage
	}
	message := title
	if body != "" {
		message += "\n\n" + body
	}
	u := s.user(user.GetLogin(), user.GetType())
	author := object.Signature{Name: user.GetLogin(), Email: fmt.Sprintf("%d+%s@users.noreply.github.com", u.GetID(), user.GetLogin()), When: now()}
	committer := object.Signature{Name: "GitHub", Email: "noreply@github.com", When: author.When}
	h, err := writeCommit(g.Storer, &object.Commit{Author: author, Committer: committer, Message: message, TreeHash: tree, ParentHashes: parents})
	if err != nil {
		return "", http.StatusInternalServerError, err.Error()
	}
	s.verified[h.String()] = true
	pr.merged, pr.mergedAt, pr.mergedBy, pr.mergeSHA, pr.baseSHA = true, now(), user, h.String(), baseH.String()
	s.closeIssue(is)
	s.sendPullRequest(r, is, "closed", user, nil)
	if err := s.setRef(r, g, plumbing.NewBranchReferenceName(pr.base), baseH, h, user); err != nil {
		return "", http.StatusInternalServerError, err.Error()
	}
	return h.String(), http.StatusOK, "Pull Request successfully merged"
}

func (s *Server) handleMerge(c *reqCtx) {
	is, ok := c.pull()
	if !ok {
		return
	}
	var o mergeOpts
	if len(strings.TrimSpace(string(c.body))) > 0 && !c.decode(&o) {
		return
	}
	if o.MergeMethod != "" && o.MergeMethod != "merge" && o.MergeMethod != "squash" && o.MergeMethod != "rebase" {
		c.unprocessable("", fieldError{Resource: "PullRequest", Field: "merge_method", Code: "invalid"})
		return
	}
	sha, status, msg := s.merge(c.repo, is, c.p.asUser(s), o)
	if status != http.StatusOK {
		c.error(status, msg)
		return
	}
	c.json(http.StatusOK, &github.PullRequestMergeResult{SHA: github.String(sha), Merged: github.Bool(true), Message: github.String(msg)})
}

// Merge merges pull request number as user through the same path as the API.
func (s *Server) Merge(repoName string, number int, user string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoLocked(repoName)
	if err != nil {
		return "", err
	}
	is := r.issues[number]
	if is == nil || is.pr == nil {
		return "", fmt.Errorf("pull request %d not found in %s", number, repoName)
	}
	sha, status, msg := s.merge(r, is, s.user(user, "User"), mergeOpts{})
	if status != http.StatusOK {
		return "", fmt.Errorf("merge #%d: %d %s", number, status, msg)
	}
	return sha, nil
}

func (s *Server) handleListReviewers(c *reqCtx) {
	is, ok := c.pull()
	if !ok {
		return
	}
	out := &github.Reviewers{Users: []*github.User{}, Teams: []*github.Team{}}
	for _, u := range is.pr.reviewers {
		out.Users = append(out.Users, s.user(u, "User"))
	}
	for _, t := range is.pr.teams {
		out.Teams = append(out.Teams, s.teamJSON(c.repo.owner, t))
	}
	c.json(http.StatusOK, struct {
		Users []*github.User `json:"users"`
		Teams []*github.Team `json:"teams"`
	}{out.Users, out.Teams})
}
