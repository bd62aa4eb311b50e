package githubtest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/go-github/v60/github"
)

// ciState is what checks.go, protection.go, reviews.go and graphql.go add to
// a repository: check runs and suites, branch protection, merge settings,
// reviews and auto-merge. Guarded by Server.mu like the repo.
type ciState struct {
	runs      []*checkRun            // creation order
	suites    map[string]*checkSuite // by head SHA (the one App has one suite per commit)
	protect   map[string]*protection // by branch name
	settings  RepoSettings
	settled   map[int]string // PR number -> head/base pair whose mergeability GitHub has computed
	autoMerge map[int]*autoMerge
	reviews   map[int][]*github.PullRequestReview
}

func (r *repo) ci() *ciState {
	if r.ciSt == nil {
		r.ciSt = &ciState{suites: map[string]*checkSuite{}, protect: map[string]*protection{},
			settings: defaultSettings(), settled: map[int]string{}, autoMerge: map[int]*autoMerge{},
			reviews: map[int][]*github.PullRequestReview{}}
	}
	return r.ciSt
}

type checkRun struct {
	id                                int64
	name, headSHA, status, conclusion string
	detailsURL, externalID            string
	title, summary, text              *string
	annotations                       []*github.CheckRunAnnotation
	started, completed                time.Time
	suite                             *checkSuite
	creator                           *github.User
}

type checkSuite struct {
	id             int64
	headSHA        string
	headBranch     string
	before         string
	created, upd   time.Time
	completedState string // the conclusion last announced by check_suite completed
}

// Check run limits and vocabularies, as the Checks API enforces them.
const (
	maxAnnotationsPerRequest = 50
	maxCheckOutputChars      = 65535
	checksDocs               = "https://docs.github.com/rest/checks/runs"
)

var (
	checkStatuses    = []string{"queued", "in_progress", "completed"}
	checkConclusions = []string{"action_required", "cancelled", "failure", "neutral", "success", "skipped", "stale", "timed_out"}
	annotationLevels = []string{"notice", "warning", "failure"}
)

type annotationInput struct {
	Path            *string `json:"path"`
	StartLine       *int    `json:"start_line"`
	EndLine         *int    `json:"end_line"`
	StartColumn     *int    `json:"start_column"`
	EndColumn       *int    `json:"end_column"`
	AnnotationLevel *string `json:"annotation_level"`
	Message         *string `json:"message"`
	Title           *string `json:"title"`
	RawDetails      *string `json:"raw_details"`
}

type checkRunInput struct {
	Name        *string `json:"name"`
	HeadSHA     *string `json:"head_sha"`
	DetailsURL  *string `json:"details_url"`
	ExternalID  *string `json:"external_id"`
	Status      *string `json:"status"`
	StartedAt   *string `json:"started_at"`
	Conclusion  *string `json:"conclusion"`
	CompletedAt *string `json:"completed_at"`
	Output      *struct {
		Title       *string           `json:"title"`
		Summary     *string           `json:"summary"`
		Text        *string           `json:"text"`
		Annotations []annotationInput `json:"annotations"`
	} `json:"output"`
}

func member(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func notMember(prop, v string, list []string) string {
	q := make([]string, len(list))
	for i, x := range list {
		q[i] = strconv.Quote(x)
	}
	return fmt.Sprintf("For 'properties/%s', %s is not a member of [%s].", prop, strconv.Quote(v), strings.Join(q, ", "))
}

func notSupplied(names ...string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	if len(q) == 1 {
		return q[0] + " wasn't supplied."
	}
	return strings.Join(q, ", ") + " weren't supplied."
}

// validate checks in as the Checks API's schema does; it returns the lines
// of an "Invalid request." answer, or a field error for "Validation Failed".
func (in *checkRunInput) validate(create bool) (lines []string, fe *fieldError) {
	var missing []string
	if create && in.Name == nil {
		missing = append(missing, "name")
	}
	if create && in.HeadSHA == nil {
		missing = append(missing, "head_sha")
	}
	if len(missing) > 0 {
		lines = append(lines, notSupplied(missing...))
	}
	if in.Status != nil && !member(checkStatuses, *in.Status) {
		lines = append(lines, notMember("status", *in.Status, checkStatuses))
	}
	if in.Conclusion != nil && !member(checkConclusions, *in.Conclusion) {
		lines = append(lines, notMember("conclusion", *in.Conclusion, checkConclusions))
	}
	if in.Conclusion == nil && ((in.Status != nil && *in.Status == "completed") || in.CompletedAt != nil) {
		lines = append(lines, notSupplied("conclusion"))
	}
	for _, t := range []*string{in.StartedAt, in.CompletedAt} {
		if t != nil {
			if _, err := time.Parse(time.RFC3339, *t); err != nil {
				lines = append(lines, fmt.Sprintf("%s is not a valid date-time.", strconv.Quote(*t)))
			}
		}
	}
	if o := in.Output; o != nil {
		var miss []string
		if create && o.Title == nil {
			miss = append(miss, "title")
		}
		if o.Summary == nil {
			miss = append(miss, "summary")
		}
		if len(miss) > 0 {
			lines = append(lines, notSupplied(miss...))
		}
		for _, t := range []*string{o.Summary, o.Text} {
			if t != nil && utf8.RuneCountInString(*t) > maxCheckOutputChars {
				lines = append(lines, fmt.Sprintf("Only %d characters are allowed; %d were supplied.", maxCheckOutputChars, utf8.RuneCountInString(*t)))
			}
		}
		if n := len(o.Annotations); n > maxAnnotationsPerRequest {
			lines = append(lines, fmt.Sprintf("For 'properties/annotations', %d items were supplied; at most %d are allowed.", n, maxAnnotationsPerRequest))
		}
		for _, a := range o.Annotations {
			var am []string
			for _, f := range []struct {
				name string
				set  bool
			}{{"path", a.Path != nil}, {"start_line", a.StartLine != nil}, {"end_line", a.EndLine != nil},
				{"annotation_level", a.AnnotationLevel != nil}, {"message", a.Message != nil}} {
				if !f.set {
					am = append(am, f.name)
				}
			}
			if len(am) > 0 {
				lines = append(lines, notSupplied(am...))
				continue
			}
			if !member(annotationLevels, *a.AnnotationLevel) {
				lines = append(lines, notMember("annotation_level", *a.AnnotationLevel, annotationLevels))
				continue
			}
			multiLine := *a.StartLine != *a.EndLine
			if *a.StartLine < 1 || *a.EndLine < *a.StartLine || (multiLine && (a.StartColumn != nil || a.EndColumn != nil)) {
				fe = &fieldError{Resource: "CheckRun", Code: "invalid", Field: "annotations"}
			}
		}
	}
	return lines, fe
}

// refuseCheckRun answers the Checks API's refusal of in, if any.
func (c *reqCtx) refuseCheckRun(in *checkRunInput, create bool) bool {
	doc := checksDocs + "#update-a-check-run"
	if create {
		doc = checksDocs + "#create-a-check-run"
	}
	lines, fe := in.validate(create)
	switch {
	case len(lines) > 0:
		c.refuse(http.StatusUnprocessableEntity, "Invalid request.\n\n"+strings.Join(lines, "\n"), doc)
	case fe != nil:
		c.json(http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed", "errors": []fieldError{*fe},
			"documentation_url": doc, "status": "422"})
	default:
		return false
	}
	return true
}

// apply sets what in carries on run (already validated).
func (s *Server) applyCheckRun(r *repo, run *checkRun, in *checkRunInput) {
	t := now()
	if in.Name != nil {
		run.name = *in.Name
	}
	if in.DetailsURL != nil {
		run.detailsURL = *in.DetailsURL
	}
	if in.ExternalID != nil {
		run.externalID = *in.ExternalID
	}
	if in.Status != nil {
		run.status = *in.Status
	}
	if in.StartedAt != nil {
		run.started, _ = time.Parse(time.RFC3339, *in.StartedAt)
	}
	if in.Conclusion != nil {
		run.conclusion, run.status = *in.Conclusion, "completed"
		run.completed = t
	}
	if in.CompletedAt != nil {
		run.completed, _ = time.Parse(time.RFC3339, *in.CompletedAt)
	}
	if o := in.Output; o != nil {
		if o.Title != nil {
			run.title = o.Title
		}
		run.summary = o.Summary
		if o.Text != nil {
			run.text = o.Text
		}
		for _, a := range o.Annotations {
			run.annotations = append(run.annotations, &github.CheckRunAnnotation{
				Path: a.Path, StartLine: a.StartLine, EndLine: a.EndLine, StartColumn: a.StartColumn, EndColumn: a.EndColumn,
				AnnotationLevel: a.AnnotationLevel, Message: a.Message, Title: a.Title, RawDetails: a.RawDetails})
		}
	}
	run.suite.upd = t
}

func (s *Server) handleCreateCheckRun(c *reqCtx) {
	var in checkRunInput
	if !c.decode(&in) || c.refuseCheckRun(&in, true) {
		return
	}
	g, ok := c.open()
	if !ok {
		return
	}
	h, valid := parseHash(*in.HeadSHA)
	if _, err := g.CommitObject(h); !valid || err != nil {
		c.refuse(http.StatusUnprocessableEntity, "No commit found for SHA: "+*in.HeadSHA, checksDocs+"#create-a-check-run")
		return
	}
	run := s.createCheckRun(c.repo, h.String(), c.p.asUser(s), &in)
	c.json(http.StatusCreated, s.checkRunJSON(c.repo, run, false))
}

// createCheckRun adds a run to head's suite and sends check_run created (and
// completed, and check_suite completed, when it is born complete).
func (s *Server) createCheckRun(r *repo, head string, sender *github.User, in *checkRunInput) *checkRun {
	ci := r.ci()
	t := now()
	suite := ci.suites[head]
	if suite == nil {
		suite = &checkSuite{id: s.newID(), headSHA: head, created: t, upd: t}
		if g, err := r.open(); err == nil {
			for _, b := range sortedBranches(g) {
				if branchHash(g, b).String() == head {
					suite.headBranch = b
					break
				}
			}
		}
		ci.suites[head] = suite
	}
	run := &checkRun{id: s.newID(), headSHA: head, status: "queued", started: t, suite: suite, creator: sender}
	s.applyCheckRun(r, run, in)
	ci.runs = append(ci.runs, run)
	suite.completedState = "" // a new run reopens the suite
	s.sendCheckRun(r, run, "created", sender)
	if run.status == "completed" {
		s.checkRunCompleted(r, run, sender)
	}
	return run
}

func (s *Server) sendCheckRun(r *repo, run *checkRun, action string, sender *github.User) {
	s.hooks.enqueue("check_run", map[string]any{"action": action, "check_run": s.checkRunJSON(r, run, true),
		"repository": s.repoJSON(r), "sender": sender, "installation": s.eventInstallation()})
}

// checkRunCompleted sends check_run completed, check_suite completed when
// every run of the suite is done, and lets auto-merge act.
func (s *Server) checkRunCompleted(r *repo, run *checkRun, sender *github.User) {
	s.sendCheckRun(r, run, "completed", sender)
	st, concl := suiteState(r, run.suite)
	if st == "completed" && run.suite.completedState != concl {
		run.suite.completedState = concl
		s.hooks.enqueue("check_suite", map[string]any{"action": "completed", "check_suite": s.checkSuiteJSON(r, run.suite, true),
			"repository": s.repoJSON(r), "sender": sender, "installation": s.eventInstallation()})
	}
	s.checksChanged(r, run.headSHA)
}

func (c *reqCtx) checkRun() (*checkRun, bool) {
	id, err := strconv.ParseInt(c.r.PathValue("check_run_id"), 10, 64)
	if err == nil {
		for _, run := range c.repo.ci().runs {
			if run.id == id {
				return run, true
			}
		}
	}
	c.error(http.StatusNotFound, "Not Found")
	return nil, false
}

func (s *Server) handleUpdateCheckRun(c *reqCtx) {
	run, ok := c.checkRun()
	if !ok {
		return
	}
	var in checkRunInput
	if !c.decode(&in) || c.refuseCheckRun(&in, false) {
		return
	}
	s.updateCheckRun(c.repo, run, c.p.asUser(s), &in)
	c.json(http.StatusOK, s.checkRunJSON(c.repo, run, false))
}

func (s *Server) updateCheckRun(r *repo, run *checkRun, sender *github.User, in *checkRunInput) {
	wasDone := run.status == "completed"
	prevConclusion := run.conclusion
	s.applyCheckRun(r, run, in)
	if run.status == "completed" && (!wasDone || run.conclusion != prevConclusion) {
		s.checkRunCompleted(r, run, sender)
	}
}

func (s *Server) handleGetCheckRun(c *reqCtx) {
	if run, ok := c.checkRun(); ok {
		c.json(http.StatusOK, s.checkRunJSON(c.repo, run, false))
	}
}

func (s *Server) handleListAnnotations(c *reqCtx) {
	run, ok := c.checkRun()
	if !ok {
		return
	}
	out := make([]map[string]any, 0, len(run.annotations))
	for _, a := range run.annotations {
		out = append(out, map[string]any{"path": a.GetPath(), "blob_href": c.s.htmlURL(c.repo, "blob", run.headSHA, a.GetPath()),
			"start_line": a.GetStartLine(), "end_line": a.GetEndLine(), "start_column": a.StartColumn, "end_column": a.EndColumn,
			"annotation_level": a.GetAnnotationLevel(), "title": a.Title, "message": a.GetMessage(), "raw_details": a.RawDetails})
	}
	c.json(http.StatusOK, paginate(c, out))
}

// refSHA resolves the {ref} of a /commits/{ref}/<suffix> route.
func (c *reqCtx) refSHA(suffix string) (string, bool) {
	g, ok := c.open()
	if !ok {
		return "", false
	}
	ref, ok := strings.CutSuffix(c.r.PathValue("ref"), suffix)
	if !ok {
		c.error(http.StatusNotFound, "Not Found")
		return "", false
	}
	cm, err := resolve(g, ref)
	if err != nil {
		c.unprocessable("No commit found for SHA: " + ref)
		return "", false
	}
	return cm.Hash.String(), true
}

func (s *Server) handleListCheckRunsForRef(c *reqCtx) {
	sha, ok := c.refSHA("/check-runs")
	if !ok {
		return
	}
	q := c.r.URL.Query()
	filter := q.Get("filter")
	if filter == "" {
		filter = "latest"
	}
	if filter != "latest" && filter != "all" {
		c.unprocessable("", fieldError{Resource: "CheckRun", Field: "filter", Code: "invalid"})
		return
	}
	var runs []*checkRun
	seen := map[string]bool{}
	all := c.repo.ci().runs
	for i := len(all) - 1; i >= 0; i-- { // newest first
		run := all[i]
		if run.headSHA != sha || (q.Has("check_name") && run.name != q.Get("check_name")) ||
			(q.Has("status") && run.status != q.Get("status")) {
			continue
		}
		if filter == "latest" && seen[run.name] {
			continue
		}
		seen[run.name] = true
		runs = append(runs, run)
	}
	page := paginate(c, runs)
	out := make([]any, 0, len(page))
	for _, run := range page {
		out = append(out, s.checkRunJSON(c.repo, run, false))
	}
	c.json(http.StatusOK, map[string]any{"total_count": len(runs), "check_runs": out})
}

func (s *Server) handleListSuitesForRef(c *reqCtx) {
	sha, ok := c.refSHA("/check-suites")
	if !ok {
		return
	}
	var suites []any
	if su := c.repo.ci().suites[sha]; su != nil {
		suites = append(suites, s.checkSuiteJSON(c.repo, su, false))
	}
	c.json(http.StatusOK, map[string]any{"total_count": len(suites), "check_suites": paginate(c, suites)})
}

