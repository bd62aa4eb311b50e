package githubtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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

// label is one of a repository's labels. Issues refer to labels by name.
type label struct {
	id          int64
	name        string
	color       string
	description *string
	isDefault   bool
}

// defaultLabels are the labels GitHub gives every new repository.
var defaultLabels = []struct{ name, color, description string }{
	{"bug", "d73a4a", "Something isn't working"},
	{"documentation", "0075ca", "Improvements or additions to documentation"},
	{"duplicate", "cfd3d7", "This issue or pull request already exists"},
	{"enhancement", "a2eeef", "New feature or request"},
	{"good first issue", "7057ff", "Good for newcomers"},
	{"help wanted", "008672", "Extra attention is needed"},
	{"invalid", "e4e669", "This doesn't seem right"},
	{"question", "d876e3", "Further information is requested"},
	{"wontfix", "ffffff", "This will not be worked on"},
}

func (s *Server) seedDefaultLabels(r *repo) {
	for _, d := range defaultLabels {
		r.labels = append(r.labels, &label{id: s.newID(), name: d.name, color: d.color, description: github.String(d.description), isDefault: true})
	}
}

// findLabel looks a label up by name, ignoring case as GitHub does.
func (r *repo) findLabel(name string) *label {
	for _, l := range r.labels {
		if strings.EqualFold(l.name, name) {
			return l
		}
	}
	return nil
}

// ensureLabel returns the label called name, creating it (grey, as GitHub
// does when a new name is added to an issue) when the repository has none.
func (s *Server) ensureLabel(r *repo, name string) *label {
	if l := r.findLabel(name); l != nil {
		return l
	}
	l := &label{id: s.newID(), name: name, color: "ededed"}
	r.labels = append(r.labels, l)
	return l
}

// labelResponse is a label as the labels endpoints answer it: description
// is null, not absent, when there is none.
type labelResponse struct {
	ID          int64   `json:"id"`
	NodeID      string  `json:"node_id"`
	URL         string  `json:"url"`
	Name        string  `json:"name"`
	Color       string  `json:"color"`
	Default     bool    `json:"default"`
	Description *string `json:"description"`
}

func (s *Server) labelResponse(r *repo, l *label) labelResponse {
	return labelResponse{ID: l.id, NodeID: fmt.Sprintf("LA_%d", l.id), URL: s.apiURL(r, "labels", url.PathEscape(l.name)),
		Name: l.name, Color: l.color, Default: l.isDefault, Description: l.description}
}

// issueLabels are an issue's labels, in the order they were added.
func (s *Server) issueLabels(r *repo, is *issue) []labelResponse {
	out := []labelResponse{}
	for _, n := range is.labels {
		out = append(out, s.labelResponse(r, s.ensureLabel(r, n)))
	}
	return out
}

// labelsJSON is an issue's labels as go-github types, for issue and pull
// request objects.
func (s *Server) labelsJSON(r *repo, is *issue) []*github.Label {
	out := []*github.Label{}
	for _, l := range s.issueLabels(r, is) {
		out = append(out, &github.Label{ID: github.Int64(l.ID), NodeID: github.String(l.NodeID), URL: github.String(l.URL),
			Name: github.String(l.Name), Color: github.String(l.Color), Default: github.Bool(l.Default), Description: l.Description})
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
		EventsURL:         github.String(s.apiURL(r, "issues", n, "events")),
		LabelsURL:         github.String(s.apiURL(r, "issues", n, "labels") + "{/name}"),
		RepositoryURL:     github.String(s.apiURL(r)),
		Locked:            github.Bool(false),
		AuthorAssociation: github.String(s.association(r, is.user.GetLogin())),
		Reactions:         s.reactionsSummary(s.apiURL(r, "issues", n, "reactions"), nil),
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

// reactionsSummary counts reactions as issues and comments show them.
func (s *Server) reactionsSummary(u string, rs []*github.Reaction) *github.Reactions {
	count := map[string]int{}
	for _, re := range rs {
		count[re.GetContent()]++
	}
	return &github.Reactions{URL: github.String(u), TotalCount: github.Int(len(rs)),
		PlusOne: github.Int(count["+1"]), MinusOne: github.Int(count["-1"]), Laugh: github.Int(count["laugh"]),
		Confused: github.Int(count["confused"]), Heart: github.Int(count["heart"]), Hooray: github.Int(count["hooray"]),
		Rocket: github.Int(count["rocket"]), Eyes: github.Int(count["eyes"])}
}

// issueResponse is an issue as the issues endpoints answer it: the members
// go-github's Issue lacks, and lists that are empty rather than absent.
type issueResponse struct {
	*github.Issue
	Labels                []*github.Label `json:"labels"`
	Assignees             []*github.User  `json:"assignees"`
	TimelineURL           string          `json:"timeline_url"`
	PerformedViaGitHubApp *github.App     `json:"performed_via_github_app"`
}

func (s *Server) issueResponse(r *repo, is *issue) issueResponse {
	ij := s.issueJSON(r, is)
	return issueResponse{Issue: ij, Labels: ij.Labels, Assignees: []*github.User{},
		TimelineURL: s.apiURL(r, "issues", strconv.Itoa(is.number), "timeline")}
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
		c.json(http.StatusOK, s.issueResponse(c.repo, is))
	}
}

// handleCreateIssue opens an issue and sends issues opened.
func (s *Server) handleCreateIssue(c *reqCtx) {
	var in struct {
		Title  json.RawMessage   `json:"title"`
		Body   *string           `json:"body"`
		Labels []json.RawMessage `json:"labels"`
	}
	if !c.decode(&in) {
		return
	}
	var title string
	if len(in.Title) == 0 || string(in.Title) == "null" {
		c.unprocessable("", fieldError{Resource: "Issue", Field: "title", Code: "missing_field"})
		return
	}
	if json.Unmarshal(in.Title, &title) != nil {
		var n json.Number // GitHub accepts a number as a title
		if json.Unmarshal(in.Title, &n) != nil {
			c.unprocessable("", fieldError{Resource: "Issue", Field: "title", Code: "invalid"})
			return
		}
		title = n.String()
	}
	if strings.TrimSpace(title) == "" {
		c.unprocessable("", fieldError{Resource: "Issue", Field: "title", Code: "missing_field"})
		return
	}
	if in.Body != nil && len(*in.Body) > maxCommentBody {
		c.unprocessable("", fieldError{Resource: "Issue", Field: "body", Code: "custom", Message: "body is too long (maximum is 65536 characters)"})
		return
	}
	names, ok := c.labelNames(in.Labels)
	if !ok {
		return
	}
	body := ""
	if in.Body != nil {
		body = *in.Body
	}
	user := c.p.asUser(s)
	is := s.newIssue(c.repo, title, body, user)
	for _, n := range names {
		is.labels = appendLabel(is.labels, s.ensureLabel(c.repo, n).name)
	}
	s.hooks.enqueue("issues", &github.IssuesEvent{Action: github.String("opened"), Issue: s.issueJSON(c.repo, is),
		Repo: s.repoJSON(c.repo), Sender: user, Installation: s.eventInstallation()})
	c.w.Header().Set("Location", s.apiURL(c.repo, "issues", strconv.Itoa(is.number)))
	c.json(http.StatusCreated, s.issueResponse(c.repo, is))
}

// handleListIssues lists a repository's issues and pull requests: open ones,
// newest first, unless the query says otherwise.
func (s *Server) handleListIssues(c *reqCtx) {
	q := c.r.URL.Query()
	state := q.Get("state")
	switch state {
	case "":
		state = "open"
	case "open", "closed", "all":
	default:
		c.unprocessable("", fieldError{Resource: "Issue", Field: "state", Code: "invalid"})
		return
	}
	sortBy, dir := q.Get("sort"), q.Get("direction")
	if sortBy == "" {
		sortBy = "created"
	}
	if dir == "" {
		dir = "desc"
	}
	if (sortBy != "created" && sortBy != "updated" && sortBy != "comments") || (dir != "asc" && dir != "desc") {
		c.unprocessable("", fieldError{Resource: "Issue", Field: "sort", Code: "invalid"})
		return
	}
	var want []string
	if l := q.Get("labels"); l != "" {
		want = strings.Split(l, ",")
	}
	var list []*issue
	for _, n := range sortedNumbers(c.repo) {
		is := c.repo.issues[n]
		if state != "all" && is.state != state {
			continue
		}
		hasAll := true
		for _, w := range want {
			hasAll = hasAll && contains(is.labels, strings.TrimSpace(w))
		}
		if hasAll {
			list = append(list, is)
		}
	}
	key := func(is *issue) int64 {
		switch sortBy {
		case "updated":
			return is.updated.UnixNano()
		case "comments":
			return int64(len(is.comments))
		}
		return int64(is.number) // numbers grow with creation time
	}
	sort.SliceStable(list, func(i, j int) bool {
		if dir == "asc" {
			return key(list[i]) < key(list[j])
		}
		return key(list[i]) > key(list[j])
	})
	out := []issueResponse{}
	for _, is := range list {
		out = append(out, s.issueResponse(c.repo, is))
	}
	c.json(http.StatusOK, paginate(c, out))
}

func (s *Server) handleAddLabels(c *reqCtx) {
	is, ok := c.issue()
	if !ok {
		return
	}
	// GitHub accepts {"labels": [...]}, a bare array of names, or of {"name": ...}.
	var obj struct {
		Labels []json.RawMessage `json:"labels"`
	}
	var arr []json.RawMessage
	if json.Unmarshal(c.body, &arr) == nil {
		obj.Labels = arr
	} else if !c.decode(&obj) {
		return
	}
	names, ok := c.labelNames(obj.Labels)
	if !ok {
		return
	}
	for _, n := range names {
		is.labels = appendLabel(is.labels, s.ensureLabel(c.repo, n).name)
	}
	is.updated = now()
	c.json(http.StatusOK, s.issueLabels(c.repo, is))
}

// labelNames reads a list of label names, or of {"name": ...} objects.
func (c *reqCtx) labelNames(raws []json.RawMessage) ([]string, bool) {
	var names []string
	for _, raw := range raws {
		var name string
		if json.Unmarshal(raw, &name) != nil {
			var o struct {
				Name string `json:"name"`
			}
			if json.Unmarshal(raw, &o) != nil {
				c.unprocessable("", fieldError{Resource: "Label", Field: "labels", Code: "invalid"})
				return nil, false
			}
			name = o.Name
		}
		name = strings.TrimSpace(name)
		if name == "" || utf8.RuneCountInString(name) > maxLabelName {
			c.unprocessable("", fieldError{Resource: "Label", Field: "name", Code: "invalid"})
			return nil, false
		}
		names = append(names, name)
	}
	return names, true
}

// appendLabel adds name to an issue's labels unless it is there in any case.
func appendLabel(labels []string, name string) []string {
	if contains(labels, name) {
		return labels
	}
	return append(labels, name)
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
		c.json(http.StatusOK, paginate(c, s.issueLabels(c.repo, is)))
	}
}

// maxLabelName and maxLabelDescription are GitHub's limits.
const (
	maxLabelName        = 50
	maxLabelDescription = 100
)

func validColor(c string) bool {
	if len(c) != 6 {
		return false
	}
	for _, r := range strings.ToLower(c) {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

// handleListRepoLabels lists the repository's labels by name.
func (s *Server) handleListRepoLabels(c *reqCtx) {
	ls := append([]*label(nil), c.repo.labels...)
	sort.SliceStable(ls, func(i, j int) bool { return strings.ToLower(ls[i].name) < strings.ToLower(ls[j].name) })
	out := []labelResponse{}
	for _, l := range ls {
		out = append(out, s.labelResponse(c.repo, l))
	}
	c.json(http.StatusOK, paginate(c, out))
}

// labelInput is the body of create and update label; color may carry a
// leading "#", which GitHub drops.
type labelInput struct {
	Name        *string `json:"name"`
	NewName     *string `json:"new_name"`
	Color       *string `json:"color"`
	Description *string `json:"description"`
}

// checkLabel validates the members present, answering 422 like GitHub.
func (c *reqCtx) checkLabel(in *labelInput) bool {
	if in.Color != nil {
		*in.Color = strings.TrimPrefix(*in.Color, "#")
		if !validColor(*in.Color) {
			c.unprocessable("", fieldError{Resource: "Label", Field: "color", Code: "invalid"})
			return false
		}
	}
	for _, n := range []*string{in.Name, in.NewName} {
		if n != nil && (strings.TrimSpace(*n) == "" || utf8.RuneCountInString(*n) > maxLabelName) {
			c.unprocessable("", fieldError{Resource: "Label", Field: "name", Code: "invalid"})
			return false
		}
	}
	if in.Description != nil && utf8.RuneCountInString(*in.Description) > maxLabelDescription {
		c.unprocessable("", fieldError{Resource: "Label", Field: "description", Code: "invalid"})
		return false
	}
	return true
}

func (s *Server) sendLabel(c *reqCtx, action string, l *label, changes *github.EditChange) {
	lj := s.labelResponse(c.repo, l)
	s.hooks.enqueue("label", &github.LabelEvent{Action: github.String(action), Changes: changes,
		Label: &github.Label{ID: github.Int64(lj.ID), NodeID: github.String(lj.NodeID), URL: github.String(lj.URL),
			Name: github.String(lj.Name), Color: github.String(lj.Color), Default: github.Bool(lj.Default), Description: lj.Description},
		Repo: s.repoJSON(c.repo), Sender: c.p.asUser(s), Installation: s.eventInstallation()})
}

func (s *Server) handleCreateLabel(c *reqCtx) {
	var in labelInput
	if !c.decode(&in) {
		return
	}
	if in.Name == nil {
		c.unprocessable("", fieldError{Resource: "Label", Field: "name", Code: "missing_field"})
		return
	}
	if !c.checkLabel(&in) {
		return
	}
	name := strings.TrimSpace(*in.Name)
	if c.repo.findLabel(name) != nil {
		c.unprocessable("", fieldError{Resource: "Label", Field: "name", Code: "already_exists"})
		return
	}
	l := &label{id: s.newID(), name: name, color: "ededed", description: in.Description}
	if in.Color != nil {
		l.color = *in.Color
	}
	c.repo.labels = append(c.repo.labels, l)
	s.sendLabel(c, "created", l, nil)
	lj := s.labelResponse(c.repo, l)
	c.w.Header().Set("Location", lj.URL)
	c.json(http.StatusCreated, lj)
}

func (c *reqCtx) label() (*label, bool) {
	l := c.repo.findLabel(c.r.PathValue("name"))
	if l == nil {
		c.error(http.StatusNotFound, "Not Found")
		return nil, false
	}
	return l, true
}

func (s *Server) handleGetLabel(c *reqCtx) {
	if l, ok := c.label(); ok {
		c.json(http.StatusOK, s.labelResponse(c.repo, l))
	}
}

func (s *Server) handleUpdateLabel(c *reqCtx) {
	l, ok := c.label()
	if !ok {
		return
	}
	var in labelInput
	if !c.decode(&in) || !c.checkLabel(&in) {
		return
	}
	changes := &github.EditChange{}
	if in.NewName != nil {
		name := strings.TrimSpace(*in.NewName)
		if other := c.repo.findLabel(name); other != nil && other != l {
			c.unprocessable("", fieldError{Resource: "Label", Field: "name", Code: "already_exists"})
			return
		}
		if name != l.name {
			for _, is := range c.repo.issues {
				for i, n := range is.labels {
					if strings.EqualFold(n, l.name) {
						is.labels[i] = name
					}
				}
			}
			changes.Title = &github.EditTitle{From: github.String(l.name)}
			l.name = name
		}
	}
	if in.Color != nil {
		l.color = *in.Color
	}
	if in.Description != nil {
		l.description = in.Description
	}
	s.sendLabel(c, "edited", l, changes)
	c.json(http.StatusOK, s.labelResponse(c.repo, l))
}

func (s *Server) handleDeleteLabel(c *reqCtx) {
	l, ok := c.label()
	if !ok {
		return
	}
	for i, x := range c.repo.labels {
		if x == l {
			c.repo.labels = append(c.repo.labels[:i:i], c.repo.labels[i+1:]...)
			break
		}
	}
	for _, is := range c.repo.issues {
		is.labels = slices.DeleteFunc(is.labels, func(n string) bool { return strings.EqualFold(n, l.name) })
	}
	s.sendLabel(c, "deleted", l, nil)
	c.w.WriteHeader(http.StatusNoContent)
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
	st := s.postStatus(c.repo, g, h, in.State, in.Context, in.Description, in.TargetURL, c.p.asUser(s))
	c.w.Header().Set("Location", *st.URL)
	c.json(http.StatusCreated, st)
}

// handleListStatuses lists every status of a ref, newest first.
func (s *Server) handleListStatuses(c *reqCtx) {
	g, ok := c.open()
	if !ok {
		return
	}
	ref, ok := strings.CutSuffix(c.r.PathValue("ref"), "/statuses")
	if !ok {
		c.error(http.StatusNotFound, "Not Found")
		return
	}
	cm, err := resolve(g, ref)
	if err != nil {
		c.error(http.StatusNotFound, "No commit found for SHA: "+ref)
		return
	}
	all := c.repo.statuses[cm.Hash.String()]
	out := make([]*github.RepoStatus, 0, len(all))
	for i := len(all) - 1; i >= 0; i-- {
		out = append(out, all[i])
	}
	c.json(http.StatusOK, paginate(c, out))
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

// combinedStatus is "Get the combined status for a specific reference".
type combinedStatus struct {
	State      string               `json:"state"`
	Statuses   []*github.RepoStatus `json:"statuses"`
	SHA        string               `json:"sha"`
	TotalCount int                  `json:"total_count"`
	Repository *github.Repository   `json:"repository"`
	CommitURL  string               `json:"commit_url"`
	URL        string               `json:"url"`
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
	latest := latestStatuses(c.repo, sha)
	// GitHub lists them oldest first and without their creator.
	sts := make([]*github.RepoStatus, 0, len(latest))
	for i := len(latest) - 1; i >= 0; i-- {
		st := *latest[i]
		st.Creator = nil
		sts = append(sts, &st)
	}
	sort.SliceStable(sts, func(i, j int) bool { return sts[i].GetID() < sts[j].GetID() })
	c.json(http.StatusOK, combinedStatus{
		State: combinedState(sts), SHA: sha, TotalCount: len(sts), Statuses: sts,
		Repository: s.repoLinks(c.repo),
		CommitURL:  s.apiURL(c.repo, "commits", sha),
		URL:        s.apiURL(c.repo, "commits", sha, "status"),
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
