package githubtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
)

// issue is an issue or, with pr set, a pull request (they share numbers).
type issue struct {
	id       int64
	number   int
	title    string
	body     string
	user     *github.User
	state    string
	labels   []string
	created  time.Time
	updated  time.Time
	closed   time.Time
	comments []*comment
	pr       *pull
}

type comment struct {
	id        int64
	repo      *repo
	issue     *issue
	user      *github.User
	body      string
	created   time.Time
	updated   time.Time
	reactions []*github.Reaction
}

func sortedNumbers(r *repo) []int {
	ns := make([]int, 0, len(r.issues))
	for n := range r.issues {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	return ns
}

func (s *Server) newIssue(r *repo, title, body string, user *github.User) *issue {
	r.nextNumber++
	t := now()
	is := &issue{id: s.newID(), number: r.nextNumber, title: title, body: body, user: user, state: "open", created: t, updated: t, labels: []string{}}
	r.issues[is.number] = is
	return is
}

func (s *Server) closeIssue(is *issue) {
	is.state = "closed"
	is.closed = now()
	is.updated = is.closed
}

func labelJSON(name string) *github.Label {
	return &github.Label{Name: github.String(name), Color: github.String("ededed"), Default: github.Bool(false),
		ID: github.Int64(int64(len(name))*7919 + int64(name[0])), NodeID: github.String("LA_" + name)}
}

func (s *Server) labelsJSON(r *repo, is *issue) []*github.Label {
	out := []*github.Label{}
	for _, l := range is.labels {
		lj := labelJSON(l)
		lj.URL = github.String(s.apiURL(r, "labels", l))
		out = append(out, lj)
	}
	return out
}

func (s *Server) issueJSON(r *repo, is *issue) *github.Issue {
	n := strconv.Itoa(is.number)
	out := &github.Issue{
		ID: github.Int64(is.id), NodeID: github.String(fmt.Sprintf("I_%d", is.id)), Number: github.Int(is.number),
		Title: github.String(is.title), Body: github.String(is.body), State: github.String(is.state),
		User: is.user, Labels: s.labelsJSON(r, is), Comments: github.Int(len(is.comments)),
		CreatedAt: ts(is.created), UpdatedAt: ts(is.updated),
		URL:               github.String(s.apiURL(r, "issues", n)),
		HTMLURL:           github.String(s.htmlURL(r, "issues", n)),
		CommentsURL:       github.String(s.apiURL(r, "issues", n, "comments")),
		RepositoryURL:     github.String(s.apiURL(r)),
		Locked:            github.Bool(false),
		AuthorAssociation: github.String("NONE"),
	}
	if !is.closed.IsZero() {
		out.ClosedAt = ts(is.closed)
	}
	if is.pr != nil {
		out.HTMLURL = github.String(s.htmlURL(r, "pull", n))
		out.PullRequestLinks = &github.PullRequestLinks{
			URL: github.String(s.apiURL(r, "pulls", n)), HTMLURL: github.String(s.htmlURL(r, "pull", n)),
			DiffURL: github.String(s.htmlURL(r, "pull", n) + ".diff"), PatchURL: github.String(s.htmlURL(r, "pull", n) + ".patch"),
		}
	}
	return out
}

func (c *reqCtx) issue() (*issue, bool) {
	n, ok := c.intParam("issue_number")
	if !ok {
		return nil, false
	}
	is := c.repo.issues[n]
	if is == nil {
		c.error(http.StatusNotFound, "Not Found")
		return nil, false
	}
	return is, true
}

func (s *Server) handleGetIssue(c *reqCtx) {
	if is, ok := c.issue(); ok {
		c.json(http.StatusOK, s.issueJSON(c.repo, is))
	}
}

func (s *Server) handleAddLabels(c *reqCtx) {
	is, ok := c.issue()
	if !ok {
		return
	}
	// GitHub accepts {"labels": [...]}, a bare array of names, or of {"name": ...}.
	var names []string
	var obj struct {
		Labels []json.RawMessage `json:"labels"`
	}
	var arr []json.RawMessage
	if json.Unmarshal(c.body, &arr) == nil {
		obj.Labels = arr
	} else if !c.decode(&obj) {
		return
	}
	for _, raw := range obj.Labels {
		var name string
		if json.Unmarshal(raw, &name) != nil {
			var o struct {
				Name string `json:"name"`
			}
			if json.Unmarshal(raw, &o) != nil {
				c.unprocessable("", fieldError{Resource: "Label", Field: "labels", Code: "invalid"})
				return
			}
			name = o.Name
		}
		name = strings.TrimSpace(name)
		if name == "" || len(name) > 50 {
			c.unprocessable("", fieldError{Resource: "Label", Field: "name", Code: "invalid"})
			return
		}
		names = append(names, name)
	}
	for _, n := range names {
		if !contains(is.labels, n) {
			is.labels = append(is.labels, n)
		}
	}
	is.updated = now()
	c.json(http.StatusOK, s.labelsJSON(c.repo, is))
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if strings.EqualFold(v, x) {
			return true
		}
	}
	return false
}

func (s *Server) handleListLabels(c *reqCtx) {
	if is, ok := c.issue(); ok {
		c.json(http.StatusOK, paginate(c, s.labelsJSON(c.repo, is)))
	}
}

func (s *Server) commentJSON(cm *comment) *github.IssueComment {
	r := cm.repo
	id := strconv.FormatInt(cm.id, 10)
	kind := "issues"
	if cm.issue.pr != nil {
		kind = "pull"
	}
	out := &github.IssueComment{
		ID: github.Int64(cm.id), NodeID: github.String("IC_" + id), Body: github.String(cm.body), User: cm.user,
		CreatedAt: ts(cm.created), UpdatedAt: ts(cm.updated),
		URL:               github.String(s.apiURL(r, "issues/comments", id)),
		HTMLURL:           github.String(fmt.Sprintf("%s#issuecomment-%s", s.htmlURL(r, kind, strconv.Itoa(cm.issue.number)), id)),
		IssueURL:          github.String(s.apiURL(r, "issues", strconv.Itoa(cm.issue.number))),
		AuthorAssociation: github.String(s.association(r, cm.user.GetLogin())),
	}
	return out
}

func (s *Server) association(r *repo, login string) string {
	switch r.perms[login] {
	case "admin", "maintain", "write", "triage":
		return "MEMBER"
	case "read":
		return "COLLABORATOR"
	}
	return "NONE"
}

// addComment stores a comment and sends issue_comment created.
func (s *Server) addComment(r *repo, is *issue, user *github.User, body string) *comment {
	t := now()
	cm := &comment{id: s.newID(), repo: r, issue: is, user: user, body: body, created: t, updated: t}
	is.comments = append(is.comments, cm)
	is.updated = t
	s.comments[cm.id] = cm
	s.hooks.enqueue("issue_comment", &github.IssueCommentEvent{
		Action: github.String("created"), Issue: s.issueJSON(r, is), Comment: s.commentJSON(cm),
		Repo: s.repoJSON(r), Sender: user, Installation: s.eventInstallation(),
	})
	return cm
}

const maxCommentBody = 65536

func (s *Server) handleCreateComment(c *reqCtx) {
	is, ok := c.issue()
	if !ok {
		return
	}
	var in struct {
		Body *string `json:"body"`
	}
	if !c.decode(&in) {
		return
	}
	if in.Body == nil || *in.Body == "" {
		c.unprocessable("", fieldError{Resource: "IssueComment", Field: "body", Code: "missing_field"})
		return
	}
	if len(*in.Body) > maxCommentBody {
		c.unprocessable("", fieldError{Resource: "IssueComment", Field: "body", Code: "custom", Message: "Body is too long (maximum is 65536 characters)"})
		return
	}
	cm := s.addComment(c.repo, is, c.p.asUser(s), *in.Body)
	c.w.Header().Set("Location", s.apiURL(c.repo, "issues/comments", strconv.FormatInt(cm.id, 10)))
	c.json(http.StatusCreated, s.commentJSON(cm))
}

func (s *Server) handleListComments(c *reqCtx) {
	is, ok := c.issue()
	if !ok {
		return
	}
	out := []*github.IssueComment{}
	for _, cm := range is.comments {
		out = append(out, s.commentJSON(cm))
	}
	c.json(http.StatusOK, paginate(c, out))
}

func (c *reqCtx) comment() (*comment, bool) {
	id, err := strconv.ParseInt(c.r.PathValue("comment_id"), 10, 64)
	cm := c.s.comments[id]
	if err != nil || cm == nil || cm.repo != c.repo {
		c.error(http.StatusNotFound, "Not Found")
		return nil, false
	}
	return cm, true
}

func (s *Server) handleUpdateComment(c *reqCtx) {
	cm, ok := c.comment()
	if !ok {
		return
	}
	var in struct {
		Body *string `json:"body"`
	}
	if !c.decode(&in) {
		return
	}
	if in.Body == nil || *in.Body == "" || len(*in.Body) > maxCommentBody {
		c.unprocessable("", fieldError{Resource: "IssueComment", Field: "body", Code: "invalid"})
		return
	}
	old := cm.body
	cm.body = *in.Body
	cm.updated = now()
	s.hooks.enqueue("issue_comment", &github.IssueCommentEvent{
		Action: github.String("edited"), Issue: s.issueJSON(c.repo, cm.issue), Comment: s.commentJSON(cm),
		Changes: &github.EditChange{Body: &github.EditBody{From: github.String(old)}},
		Repo:    s.repoJSON(c.repo), Sender: c.p.asUser(s), Installation: s.eventInstallation(),
	})
	c.json(http.StatusOK, s.commentJSON(cm))
}

var reactionContents = map[string]bool{"+1": true, "-1": true, "laugh": true, "confused": true, "heart": true, "hooray": true, "rocket": true, "eyes": true}

func (s *Server) handleCreateReaction(c *reqCtx) {
	cm, ok := c.comment()
	if !ok {
		return
	}
	var in struct {
		Content string `json:"content"`
	}
	if !c.decode(&in) {
		return
	}
	if !reactionContents[in.Content] {
		c.unprocessable("", fieldError{Resource: "Reaction", Field: "content", Code: "invalid"})
		return
	}
	u := c.p.asUser(s)
	for _, re := range cm.reactions {
		if re.GetContent() == in.Content && re.GetUser().GetLogin() == u.GetLogin() {
			c.json(http.StatusOK, re)
			return
		}
	}
	re := &github.Reaction{ID: github.Int64(s.newID()), User: u, Content: github.String(in.Content)}
	re.NodeID = github.String(fmt.Sprintf("REA_%d", re.GetID()))
	cm.reactions = append(cm.reactions, re)
	c.json(http.StatusCreated, re)
}

var statusStates = map[string]bool{"error": true, "failure": true, "pending": true, "success": true}

func (s *Server) handleCreateStatus(c *reqCtx) {
	var in struct {
		State       string `json:"state"`
		TargetURL   string `json:"target_url"`
		Description string `json:"description"`
		Context     string `json:"context"`
	}
	if !c.decode(&in) {
		return
	}
	if !statusStates[in.State] {
		c.unprocessable("", fieldError{Resource: "Status", Field: "state", Code: "custom", Message: "state is not included in the list"})
		return
	}
	if len(in.Description) > 140 {
		c.unprocessable("", fieldError{Resource: "Status", Field: "description", Code: "custom", Message: "description is too long (maximum is 140 characters)"})
		return
	}
	g, ok := c.open()
	if !ok {
		return
	}
	sha := c.r.PathValue("sha")
	h, valid := parseHash(sha)
	if _, err := g.CommitObject(h); !valid || err != nil {
		c.unprocessable("No commit found for SHA: " + sha)
		return
	}
	if in.Context == "" {
		in.Context = "default"
	}
	t := now()
	st := &github.RepoStatus{
		ID: github.Int64(s.newID()), State: github.String(in.State), Context: github.String(in.Context),
		Description: github.String(in.Description), TargetURL: github.String(in.TargetURL),
		Creator: c.p.asUser(s), CreatedAt: ts(t), UpdatedAt: ts(t),
		URL: github.String(s.apiURL(c.repo, "statuses", sha)),
	}
	st.NodeID = github.String(fmt.Sprintf("SC_%d", st.GetID()))
	if in.TargetURL == "" {
		st.TargetURL = nil
	}
	c.repo.statuses[sha] = append(c.repo.statuses[sha], st)
	c.json(http.StatusCreated, st)
}

// latestStatuses is the newest status per context for sha.
func latestStatuses(r *repo, sha string) []*github.RepoStatus {
	seen := map[string]bool{}
	var out []*github.RepoStatus
	all := r.statuses[sha]
	for i := len(all) - 1; i >= 0; i-- {
		if !seen[all[i].GetContext()] {
			seen[all[i].GetContext()] = true
			out = append(out, all[i])
		}
	}
	return out
}

// combinedState follows GitHub: failure beats pending beats success; none is pending.
func combinedState(sts []*github.RepoStatus) string {
	if len(sts) == 0 {
		return "pending"
	}
	state := "success"
	for _, st := range sts {
		switch st.GetState() {
		case "error", "failure":
			return "failure"
		case "pending":
			state = "pending"
		}
	}
	return state
}

func (s *Server) handleCombinedStatus(c *reqCtx) {
	g, ok := c.open()
	if !ok {
		return
	}
	ref, ok := strings.CutSuffix(c.r.PathValue("ref"), "/status")
	if !ok {
		c.error(http.StatusNotFound, "Not Found")
		return
	}
	cm, err := resolve(g, ref)
	if err != nil {
		c.error(http.StatusNotFound, "No commit found for SHA: "+ref)
		return
	}
	sha := cm.Hash.String()
	sts := latestStatuses(c.repo, sha)
	if sts == nil {
		sts = []*github.RepoStatus{}
	}
	c.json(http.StatusOK, &github.CombinedStatus{
		State: github.String(combinedState(sts)), SHA: github.String(sha), TotalCount: github.Int(len(sts)),
		Statuses: sts, RepositoryURL: github.String(s.apiURL(c.repo)),
		CommitURL: github.String(s.apiURL(c.repo, "commits", sha)),
	})
}

var permLevels = map[string][2]string{ // role -> permission, role_name
	"admin": {"admin", "admin"}, "maintain": {"write", "maintain"}, "write": {"write", "write"},
	"triage": {"read", "triage"}, "read": {"read", "read"}, "none": {"none", ""},
}

func (s *Server) handlePermission(c *reqCtx) {
	login := c.r.PathValue("username")
	role := c.repo.perms[login]
	if role == "" {
		role = "none"
	}
	lv := permLevels[role]
	u := s.user(login, "User")
	u.Permissions = map[string]bool{"admin": role == "admin", "maintain": role == "admin" || role == "maintain",
		"push": lv[0] == "write" || lv[0] == "admin", "triage": lv[0] != "none", "pull": lv[0] != "none"}
	u.RoleName = github.String(lv[1])
	c.json(http.StatusOK, struct {
		*github.RepositoryPermissionLevel
		RoleName string `json:"role_name"`
	}{&github.RepositoryPermissionLevel{Permission: github.String(lv[0]), User: u}, lv[1]})
}

func (s *Server) handleTeamMembership(c *reqCtx) {
	org, team, login := c.r.PathValue("org"), c.r.PathValue("team_slug"), c.r.PathValue("username")
	if !s.teams[strings.ToLower(org+"/"+team)][login] {
		c.error(http.StatusNotFound, "Not Found")
		return
	}
	c.json(http.StatusOK, &github.Membership{
		URL:   github.String(fmt.Sprintf("%sorgs/%s/teams/%s/memberships/%s", s.APIURL(), org, team, login)),
		State: github.String("active"), Role: github.String("member"),
	})
}

// --- test-facing helpers ---

// SetPermission sets user's role on repo: admin, maintain, write, triage, read or none.
func (s *Server) SetPermission(repoName, user, perm string) error {
	if _, ok := permLevels[perm]; !ok {
		return fmt.Errorf("unknown permission %q", perm)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoLocked(repoName)
	if err != nil {
		return err
	}
	r.perms[user] = perm
	return nil
}

// AddTeamMember makes user an active member of org/team.
func (s *Server) AddTeamMember(org, team, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := strings.ToLower(org + "/" + team)
	if s.teams[k] == nil {
		s.teams[k] = map[string]bool{}
	}
	s.teams[k][user] = true
}

// CreateIssue opens an issue as user and returns its number.
func (s *Server) CreateIssue(repoName, title, user string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoLocked(repoName)
	if err != nil {
		return 0, err
	}
	return s.newIssue(r, title, "", s.user(user, "User")).number, nil
}

// Comment posts a comment as user on an issue or pull request, sending issue_comment.
func (s *Server) Comment(repoName string, issueNumber int, user, body string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoLocked(repoName)
	if err != nil {
		return 0, err
	}
	is := r.issues[issueNumber]
	if is == nil {
		return 0, fmt.Errorf("issue %d not found in %s", issueNumber, repoName)
	}
	typ := "User"
	if strings.HasSuffix(user, "[bot]") {
		typ = "Bot"
	}
	return s.addComment(r, is, s.user(user, typ), body).id, nil
}

// IssueComment is a snapshot of a comment.
type IssueComment struct {
	ID   int64
	User string
	Body string
}

// Comments lists the comments of an issue or pull request, oldest first.
func (s *Server) Comments(repoName string, issueNumber int) []IssueComment {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[repoName]
	if r == nil || r.issues[issueNumber] == nil {
		return nil
	}
	var out []IssueComment
	for _, cm := range r.issues[issueNumber].comments {
		out = append(out, IssueComment{ID: cm.id, User: cm.user.GetLogin(), Body: cm.body})
	}
	return out
}

// Reaction is a snapshot of a reaction on a comment.
type Reaction struct {
	User    string
	Content string
}

// Reactions lists the reactions on a comment, oldest first.
func (s *Server) Reactions(commentID int64) []Reaction {
	s.mu.Lock()
	defer s.mu.Unlock()
	cm := s.comments[commentID]
	if cm == nil {
		return nil
	}
	var out []Reaction
	for _, re := range cm.reactions {
		out = append(out, Reaction{User: re.GetUser().GetLogin(), Content: re.GetContent()})
	}
	return out
}

// Status is a snapshot of a commit status.
type Status struct {
	State, Context, Description, TargetURL, Creator string
}

// Statuses lists every status posted for sha (a full SHA or a ref), oldest first.
func (s *Server) Statuses(repoName, sha string) []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[repoName]
	if r == nil {
		return nil
	}
	if g, err := r.open(); err == nil {
		if cm, err := resolve(g, sha); err == nil {
			sha = cm.Hash.String()
		}
	}
	var out []Status
	for _, st := range r.statuses[sha] {
		out = append(out, Status{State: st.GetState(), Context: st.GetContext(), Description: st.GetDescription(),
			TargetURL: st.GetTargetURL(), Creator: st.GetCreator().GetLogin()})
	}
	return out
}
