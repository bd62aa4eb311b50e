package githubtest

import (
	"fmt"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-github/v60/github"
)

// postStatus records a commit status on h and sends the status webhook,
// shaped like GitHub's: the commit, the branches whose tip it is, the
// repository, installation and sender. Auto-merge then gets its chance.
func (s *Server) postStatus(r *repo, g *git.Repository, h plumbing.Hash, state, context, description, targetURL string, creator *github.User) *github.RepoStatus {
	sha := h.String()
	t := now()
	st := &github.RepoStatus{
		ID: github.Int64(s.newID()), State: github.String(state), Context: github.String(context),
		Description: github.String(description), TargetURL: github.String(targetURL),
		AvatarURL: creator.AvatarURL, Creator: creator, CreatedAt: ts(t), UpdatedAt: ts(t),
		URL: github.String(s.apiURL(r, "statuses", sha)),
	}
	st.NodeID = github.String(fmt.Sprintf("SC_%d", st.GetID()))
	if targetURL == "" {
		st.TargetURL = nil
	}
	r.statuses[sha] = append(r.statuses[sha], st)
	ev := &github.StatusEvent{
		SHA: github.String(sha), State: st.State, Description: st.Description, TargetURL: st.TargetURL,
		Context: st.Context, ID: st.ID, Name: github.String(r.fullName()),
		CreatedAt: st.CreatedAt, UpdatedAt: st.UpdatedAt, Branches: []*github.Branch{},
		Repo: s.repoJSON(r), Sender: creator, Installation: s.eventInstallation(),
	}
	if cm, err := g.CommitObject(h); err == nil {
		if rc, err := s.repoCommitJSON(r, g, cm, false); err == nil {
			ev.Commit = rc
		}
	}
	for _, b := range sortedBranches(g) {
		if branchHash(g, b) == h {
			_, protected := r.ci().protect[b]
			ev.Branches = append(ev.Branches, &github.Branch{Name: github.String(b), Protected: github.Bool(protected),
				Commit: &github.RepositoryCommit{SHA: github.String(sha), URL: github.String(s.apiURL(r, "commits", sha))}})
		}
	}
	s.hooks.enqueue("status", statusEvent{StatusEvent: ev, Description: st.Description, TargetURL: st.TargetURL})
	s.checksChanged(r, sha)
	return st
}

// statusEvent keeps the members GitHub sends as null when empty.
type statusEvent struct {
	*github.StatusEvent
	Description *string `json:"description"`
	TargetURL   *string `json:"target_url"`
}

// SetStatus posts a commit status on sha (a SHA or a ref) as user, as a CI
// system or Argo CD would: same validation-free path as the API, same
// webhook, same auto-merge effect.
func (s *Server) SetStatus(repoName, sha, context, state, targetURL, user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoLocked(repoName)
	if err != nil {
		return err
	}
	if !statusStates[state] {
		return fmt.Errorf("status state %q is not one of error, failure, pending, success", state)
	}
	g, err := r.open()
	if err != nil {
		return err
	}
	cm, err := resolve(g, sha)
	if err != nil {
		return fmt.Errorf("no commit %s in %s", sha, repoName)
	}
	s.postStatus(r, g, cm.Hash, state, context, "", targetURL, s.user(user, "User"))
	return nil
}

// CheckRun is a snapshot of a check run for test assertions.
type CheckRun struct {
	ID                                      int64
	Name, HeadSHA, Status, Conclusion       string
	Title, Summary, Text, DetailsURL, ExtID string
	Annotations                             []Annotation
}

// Annotation is one check run annotation.
type Annotation struct {
	Path                  string
	StartLine, EndLine    int
	Level, Message, Title string
}

// CheckRuns lists the check runs on sha (a SHA or a ref), oldest first.
func (s *Server) CheckRuns(repoName, sha string) []CheckRun {
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
	deref := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	var out []CheckRun
	for _, run := range r.ci().runs {
		if run.headSHA != sha {
			continue
		}
		cr := CheckRun{ID: run.id, Name: run.name, HeadSHA: run.headSHA, Status: run.status, Conclusion: run.conclusion,
			Title: deref(run.title), Summary: deref(run.summary), Text: deref(run.text), DetailsURL: run.detailsURL, ExtID: run.externalID}
		for _, a := range run.annotations {
			cr.Annotations = append(cr.Annotations, Annotation{Path: a.GetPath(), StartLine: a.GetStartLine(), EndLine: a.GetEndLine(),
				Level: a.GetAnnotationLevel(), Message: a.GetMessage(), Title: a.GetTitle()})
		}
		out = append(out, cr)
	}
	return out
}

// CreateCheckRun starts a check run named name on sha (a SHA or a ref) as
// the App would, status in_progress; it returns the run's id.
func (s *Server) CreateCheckRun(repoName, sha, name string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoLocked(repoName)
	if err != nil {
		return 0, err
	}
	g, err := r.open()
	if err != nil {
		return 0, err
	}
	cm, err := resolve(g, sha)
	if err != nil {
		return 0, fmt.Errorf("no commit %s in %s", sha, repoName)
	}
	st := "in_progress"
	run := s.createCheckRun(r, cm.Hash.String(), s.user(s.slug+"[bot]", "Bot"), &checkRunInput{Name: &name, Status: &st})
	return run.id, nil
}

// CompleteCheckRun completes check run id with conclusion (success,
// failure, ...), sending check_run completed, check_suite completed when the
// suite is done, and letting auto-merge act.
func (s *Server) CompleteCheckRun(repoName string, id int64, conclusion string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoLocked(repoName)
	if err != nil {
		return err
	}
	in := &checkRunInput{Conclusion: &conclusion}
	if lines, _ := in.validate(false); len(lines) > 0 {
		return fmt.Errorf("complete check run: %s", lines[0])
	}
	for _, run := range r.ci().runs {
		if run.id == id {
			s.updateCheckRun(r, run, s.user(s.slug+"[bot]", "Bot"), in)
			return nil
		}
	}
	return fmt.Errorf("check run %d not found in %s", id, repoName)
}

// OpenPullRequest opens a pull request from head into base as user, as a
// person does in the web UI: same checks and pull_request opened webhook as
// the API. It returns the number.
func (s *Server) OpenPullRequest(repoName, head, base, title, body, user string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoLocked(repoName)
	if err != nil {
		return 0, err
	}
	g, err := r.open()
	if err != nil {
		return 0, err
	}
	baseH, headH := branchHash(g, base), branchHash(g, head)
	switch {
	case baseH.IsZero() || headH.IsZero():
		return 0, fmt.Errorf("open pull request: no branch %s or %s in %s", head, base, repoName)
	case isAncestor(g, headH, baseH):
		return 0, fmt.Errorf("open pull request: no commits between %s and %s", base, head)
	}
	for _, is := range r.issues {
		if is.pr != nil && is.state == "open" && is.pr.head == head && is.pr.base == base {
			return 0, fmt.Errorf("open pull request: one already exists for %s:%s", r.owner, head)
		}
	}
	u := s.user(user, "User")
	is := s.newIssue(r, title, body, u)
	is.pr = &pull{head: head, base: base, headSHA: headH.String(), baseSHA: baseH.String()}
	s.sendPullRequest(r, is, "opened", u, nil)
	return is.number, nil
}
