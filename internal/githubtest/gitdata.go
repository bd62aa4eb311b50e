package githubtest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/go-github/v60/github"
)

func now() time.Time { return time.Now().UTC().Truncate(time.Second) }

func modeString(m filemode.FileMode) string { return fmt.Sprintf("%06o", uint32(m)) }

func typeOf(m filemode.FileMode) string {
	switch m {
	case filemode.Dir:
		return "tree"
	case filemode.Submodule:
		return "commit"
	}
	return "blob"
}

// base64Lines encodes like GitHub: base64 with a newline every 60 characters.
func base64Lines(b []byte) string {
	enc := base64.StdEncoding.EncodeToString(b)
	var sb strings.Builder
	for len(enc) > 60 {
		sb.WriteString(enc[:60])
		sb.WriteByte('\n')
		enc = enc[60:]
	}
	sb.WriteString(enc)
	sb.WriteByte('\n')
	return sb.String()
}

// open is the repository of the request (under s.mu); answers 500 on failure.
func (c *reqCtx) open() (*git.Repository, bool) {
	g, err := c.repo.open()
	if err != nil {
		c.error(http.StatusInternalServerError, err.Error())
		return nil, false
	}
	return g, true
}

func parseHash(s string) (plumbing.Hash, bool) {
	if len(s) != 40 || !isHex(s) {
		return plumbing.ZeroHash, false
	}
	return plumbing.NewHash(s), true
}

func (s *Server) handleCreateBlob(c *reqCtx) {
	var in struct {
		Content  *string `json:"content"`
		Encoding string  `json:"encoding"`
	}
	if !c.decode(&in) {
		return
	}
	if in.Content == nil {
		c.unprocessable("", fieldError{Resource: "Blob", Field: "content", Code: "missing_field"})
		return
	}
	data := []byte(*in.Content)
	switch in.Encoding {
	case "", "utf-8", "utf8":
	case "base64":
		b, err := base64.StdEncoding.DecodeString(strings.Map(dropSpace, *in.Content))
		if err != nil {
			c.unprocessable("", fieldError{Resource: "Blob", Field: "content", Code: "invalid", Message: "content is not valid Base64"})
			return
		}
		data = b
	default:
		c.unprocessable("", fieldError{Resource: "Blob", Field: "encoding", Code: "invalid", Message: "encoding must be utf-8 or base64"})
		return
	}
	g, ok := c.open()
	if !ok {
		return
	}
	h, err := writeBlob(g.Storer, data)
	if err != nil {
		c.error(http.StatusInternalServerError, err.Error())
		return
	}
	c.json(http.StatusCreated, &github.Blob{SHA: github.String(h.String()), URL: github.String(s.apiURL(c.repo, "git/blobs", h.String()))})
}

func dropSpace(r rune) rune {
	if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
		return -1
	}
	return r
}

func (s *Server) handleGetBlob(c *reqCtx) {
	g, ok := c.open()
	if !ok {
		return
	}
	h, valid := parseHash(c.r.PathValue("file_sha"))
	b, err := g.BlobObject(h)
	if !valid || err != nil {
		c.error(http.StatusNotFound, "Not Found")
		return
	}
	rd, err := b.Reader()
	if err != nil {
		c.error(http.StatusInternalServerError, err.Error())
		return
	}
	defer rd.Close()
	data, err := io.ReadAll(rd)
	if err != nil {
		c.error(http.StatusInternalServerError, err.Error())
		return
	}
	c.json(http.StatusOK, &github.Blob{
		SHA: github.String(h.String()), Size: github.Int(len(data)), Encoding: github.String("base64"),
		Content: github.String(base64Lines(data)), URL: github.String(s.apiURL(c.repo, "git/blobs", h.String())),
		NodeID: github.String("B_" + h.String()[:12]),
	})
}

func (s *Server) handleCreateTree(c *reqCtx) {
	var in struct {
		BaseTree string                       `json:"base_tree"`
		Tree     []map[string]json.RawMessage `json:"tree"`
	}
	if !c.decode(&in) {
		return
	}
	if in.Tree == nil {
		c.unprocessable("", fieldError{Resource: "Tree", Field: "tree", Code: "missing_field"})
		return
	}
	g, ok := c.open()
	if !ok {
		return
	}
	base := plumbing.ZeroHash
	if in.BaseTree != "" {
		h, valid := parseHash(in.BaseTree)
		if _, err := g.TreeObject(h); !valid || err != nil {
			c.unprocessable("base_tree is not a valid tree oid")
			return
		}
		base = h
	}
	var edits []treeEdit
	for i, raw := range in.Tree {
		e, msg := parseTreeEntry(g, raw)
		if msg != "" {
			c.unprocessable(fmt.Sprintf("tree.%d %s", i, msg))
			return
		}
		edits = append(edits, e)
	}
	h, err := editTree(g.Storer, base, edits)
	if err != nil {
		c.unprocessable("tree contains an invalid path")
		return
	}
	t, err := g.TreeObject(h)
	if err != nil {
		c.error(http.StatusInternalServerError, err.Error())
		return
	}
	c.json(http.StatusCreated, s.treeJSON(c.repo, g, t, false))
}

// parseTreeEntry reads one entry of POST git/trees; "sha": null deletes.
func parseTreeEntry(g *git.Repository, raw map[string]json.RawMessage) (treeEdit, string) {
	str := func(k string) (string, bool, bool) { // value, present, isNull
		v, ok := raw[k]
		if !ok {
			return "", false, false
		}
		if string(v) == "null" {
			return "", true, true
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "", true, false
		}
		return s, true, false
	}
	var e treeEdit
	p, _, _ := str("path")
	if p == "" {
		return e, "path is missing"
	}
	e.path = p
	mode, _, _ := str("mode")
	switch mode {
	case "100644":
		e.mode = filemode.Regular
	case "100755":
		e.mode = filemode.Executable
	case "040000":
		e.mode = filemode.Dir
	case "160000":
		e.mode = filemode.Submodule
	case "120000":
		e.mode = filemode.Symlink
	default:
		return e, "mode is invalid: must be 100644, 100755, 040000, 160000 or 120000"
	}
	typ, _, _ := str("type")
	if typ == "" {
		typ = typeOf(e.mode)
	}
	if typ != typeOf(e.mode) {
		return e, "type does not match mode"
	}
	e.typ = typ
	sha, shaPresent, shaNull := str("sha")
	content, contentPresent, _ := str("content")
	switch {
	case contentPresent && shaPresent && !shaNull:
		return e, "must contain exactly one of sha or content"
	case contentPresent:
		if typ != "blob" {
			return e, "content is only valid for blobs"
		}
		b := []byte(content)
		e.content = &b
	case shaNull:
		e.delete = true
	case shaPresent:
		h, ok := parseHash(sha)
		if !ok {
			return e, "sha is not a valid object id"
		}
		if typ != "commit" {
			obj, err := g.Storer.EncodedObject(plumbing.AnyObject, h)
			if err != nil || obj.Type().String() != typ {
				return e, "sha does not exist or is not a " + typ
			}
		}
		e.sha = h
	default:
		return e, "must contain either sha or content"
	}
	return e, ""
}

func (s *Server) treeJSON(r *repo, g *git.Repository, t *object.Tree, recursive bool) *github.Tree {
	out := &github.Tree{SHA: github.String(t.Hash.String()), Entries: []*github.TreeEntry{}, Truncated: github.Bool(false)}
	var walk func(prefix string, t *object.Tree)
	walk = func(prefix string, t *object.Tree) {
		for _, e := range t.Entries {
			p := path.Join(prefix, e.Name)
			te := &github.TreeEntry{
				Path: github.String(p), Mode: github.String(modeString(e.Mode)),
				Type: github.String(typeOf(e.Mode)), SHA: github.String(e.Hash.String()),
			}
			switch typeOf(e.Mode) {
			case "blob":
				if sz, err := g.Storer.EncodedObjectSize(e.Hash); err == nil {
					te.Size = github.Int(int(sz))
				}
				te.URL = github.String(s.apiURL(r, "git/blobs", e.Hash.String()))
			case "tree":
				te.URL = github.String(s.apiURL(r, "git/trees", e.Hash.String()))
			}
			out.Entries = append(out.Entries, te)
			if recursive && e.Mode == filemode.Dir {
				if sub, err := g.TreeObject(e.Hash); err == nil {
					walk(p, sub)
				}
			}
		}
	}
	walk("", t)
	return out
}

// MarshalJSON is not available on github.Tree for url; wrap to add it.
type treeResponse struct {
	*github.Tree
	URL string `json:"url"`
}

func (s *Server) handleGetTree(c *reqCtx) {
	g, ok := c.open()
	if !ok {
		return
	}
	ref := c.r.PathValue("tree_sha")
	var t *object.Tree
	if h, valid := parseHash(ref); valid {
		t, _ = g.TreeObject(h)
	}
	if t == nil {
		if cm, err := resolve(g, ref); err == nil {
			t, _ = cm.Tree()
		}
	}
	if t == nil {
		c.error(http.StatusNotFound, "Not Found")
		return
	}
	tj := s.treeJSON(c.repo, g, t, c.r.URL.Query().Get("recursive") != "")
	c.json(http.StatusOK, treeResponse{Tree: tj, URL: s.apiURL(c.repo, "git/trees", t.Hash.String())})
}

type authorIn struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Date  string `json:"date"`
}

func (a *authorIn) signature(def object.Signature) (object.Signature, bool) {
	if a == nil {
		return def, true
	}
	sig := object.Signature{Name: a.Name, Email: a.Email, When: def.When}
	if a.Name == "" || a.Email == "" {
		return sig, false
	}
	if a.Date != "" {
		t, err := time.Parse(time.RFC3339, a.Date)
		if err != nil {
			return sig, false
		}
		sig.When = t
	}
	return sig, true
}

func (s *Server) botSignature(p *principal) object.Signature {
	if p.userType == "Bot" {
		u := s.user(p.login, "Bot")
		return object.Signature{Name: p.login, Email: fmt.Sprintf("%d+%s@users.noreply.github.com", u.GetID(), p.login), When: now()}
	}
	u := s.user(p.login, "User")
	return object.Signature{Name: p.login, Email: fmt.Sprintf("%d+%s@users.noreply.github.com", u.GetID(), p.login), When: now()}
}

func (s *Server) handleCreateCommit(c *reqCtx) {
	var in struct {
		Message   *string   `json:"message"`
		Tree      string    `json:"tree"`
		Parents   []string  `json:"parents"`
		Author    *authorIn `json:"author"`
		Committer *authorIn `json:"committer"`
	}
	if !c.decode(&in) {
		return
	}
	if in.Message == nil {
		c.unprocessable("", fieldError{Resource: "Commit", Field: "message", Code: "missing_field"})
		return
	}
	if !utf8.ValidString(*in.Message) {
		c.unprocessable("", fieldError{Resource: "Commit", Field: "message", Code: "invalid"})
		return
	}
	g, ok := c.open()
	if !ok {
		return
	}
	th, valid := parseHash(in.Tree)
	if _, err := g.TreeObject(th); !valid || err != nil {
		c.unprocessable("Tree SHA does not exist")
		return
	}
	var parents []plumbing.Hash
	for _, p := range in.Parents {
		h, valid := parseHash(p)
		if _, err := g.CommitObject(h); !valid || err != nil {
			c.unprocessable("Parent SHA does not exist or is not a commit object")
			return
		}
		parents = append(parents, h)
	}
	def := s.botSignature(c.p)
	author, ok1 := in.Author.signature(def)
	committer, ok2 := in.Committer.signature(author)
	if in.Committer == nil {
		committer = author
	}
	if !ok1 || !ok2 {
		c.unprocessable("Invalid request.\n\nauthor and committer need name, email and an ISO 8601 date")
		return
	}
	h, err := writeCommit(g.Storer, &object.Commit{Author: author, Committer: committer, Message: *in.Message, TreeHash: th, ParentHashes: parents})
	if err != nil {
		c.error(http.StatusInternalServerError, err.Error())
		return
	}
	if c.p.kind == authInstallation {
		s.verified[h.String()] = true
	}
	cm, err := g.CommitObject(h)
	if err != nil {
		c.error(http.StatusInternalServerError, err.Error())
		return
	}
	c.json(http.StatusCreated, s.commitJSON(c.repo, cm))
}

func (s *Server) commitJSON(r *repo, cm *object.Commit) *github.Commit {
	sha := cm.Hash.String()
	out := &github.Commit{
		SHA: github.String(sha), NodeID: github.String("C_" + sha[:12]),
		Message:   github.String(cm.Message),
		Author:    &github.CommitAuthor{Name: github.String(cm.Author.Name), Email: github.String(cm.Author.Email), Date: &github.Timestamp{Time: cm.Author.When}},
		Committer: &github.CommitAuthor{Name: github.String(cm.Committer.Name), Email: github.String(cm.Committer.Email), Date: &github.Timestamp{Time: cm.Committer.When}},
		Tree:      &github.Tree{SHA: github.String(cm.TreeHash.String())},
		URL:       github.String(s.apiURL(r, "git/commits", sha)),
		HTMLURL:   github.String(s.htmlURL(r, "commit", sha)),
		Parents:   []*github.Commit{},
	}
	for _, p := range cm.ParentHashes {
		out.Parents = append(out.Parents, &github.Commit{SHA: github.String(p.String()),
			URL: github.String(s.apiURL(r, "git/commits", p.String())), HTMLURL: github.String(s.htmlURL(r, "commit", p.String()))})
	}
	if s.verified[sha] {
		out.Verification = &github.SignatureVerification{Verified: github.Bool(true), Reason: github.String("valid")}
	} else {
		out.Verification = &github.SignatureVerification{Verified: github.Bool(false), Reason: github.String("unsigned")}
	}
	return out
}

func (s *Server) handleGetCommit(c *reqCtx) {
	g, ok := c.open()
	if !ok {
		return
	}
	h, valid := parseHash(c.r.PathValue("commit_sha"))
	cm, err := g.CommitObject(h)
	if !valid || err != nil {
		c.error(http.StatusNotFound, "Not Found")
		return
	}
	c.json(http.StatusOK, s.commitJSON(c.repo, cm))
}

func (s *Server) refJSON(r *repo, ref *plumbing.Reference) *github.Reference {
	name := ref.Name().String()
	return &github.Reference{
		Ref: github.String(name), NodeID: github.String("REF_" + name),
		URL: github.String(s.apiURL(r, "git", name)),
		Object: &github.GitObject{Type: github.String("commit"), SHA: github.String(ref.Hash().String()),
			URL: github.String(s.apiURL(r, "git/commits", ref.Hash().String()))},
	}
}

func (s *Server) handleGetRef(c *reqCtx) {
	g, ok := c.open()
	if !ok {
		return
	}
	name := plumbing.ReferenceName("refs/" + c.r.PathValue("ref"))
	ref, err := g.Storer.Reference(name)
	if err != nil || name.Validate() != nil || ref.Type() != plumbing.HashReference {
		c.error(http.StatusNotFound, "Not Found")
		return
	}
	c.json(http.StatusOK, s.refJSON(c.repo, ref))
}

func (s *Server) handleMatchingRefs(c *reqCtx) {
	g, ok := c.open()
	if !ok {
		return
	}
	prefix := "refs/" + c.r.PathValue("ref")
	iter, err := g.Storer.IterReferences()
	if err != nil {
		c.error(http.StatusInternalServerError, err.Error())
		return
	}
	out := []*github.Reference{}
	_ = iter.ForEach(func(ref *plumbing.Reference) error {
		if ref.Type() == plumbing.HashReference && strings.HasPrefix(ref.Name().String(), prefix) {
			out = append(out, s.refJSON(c.repo, ref))
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].GetRef() < out[j].GetRef() })
	c.json(http.StatusOK, out)
}

func (s *Server) handleCreateRef(c *reqCtx) {
	var in struct {
		Ref string `json:"ref"`
		SHA string `json:"sha"`
	}
	if !c.decode(&in) {
		return
	}
	name := plumbing.ReferenceName(in.Ref)
	if !strings.HasPrefix(in.Ref, "refs/") || strings.Count(in.Ref, "/") < 2 || name.Validate() != nil {
		c.unprocessable("Reference name is invalid")
		return
	}
	g, ok := c.open()
	if !ok {
		return
	}
	h, valid := parseHash(in.SHA)
	if _, err := g.CommitObject(h); !valid || err != nil {
		c.unprocessable("Object does not exist")
		return
	}
	if _, err := g.Storer.Reference(name); err == nil {
		c.unprocessable("Reference already exists")
		return
	}
	if err := s.setRef(c.repo, g, name, plumbing.ZeroHash, h, c.p.asUser(s)); err != nil {
		c.error(http.StatusInternalServerError, err.Error())
		return
	}
	ref, _ := g.Storer.Reference(name)
	c.w.Header().Set("Location", s.apiURL(c.repo, "git", in.Ref))
	c.json(http.StatusCreated, s.refJSON(c.repo, ref))
}

func (s *Server) handleUpdateRef(c *reqCtx) {
	var in struct {
		SHA   string `json:"sha"`
		Force bool   `json:"force"`
	}
	if !c.decode(&in) {
		return
	}
	g, ok := c.open()
	if !ok {
		return
	}
	name := plumbing.ReferenceName("refs/" + c.r.PathValue("ref"))
	cur, err := g.Storer.Reference(name)
	if err != nil || name.Validate() != nil {
		c.unprocessable("Reference does not exist")
		return
	}
	h, valid := parseHash(in.SHA)
	if _, err := g.CommitObject(h); !valid || err != nil {
		c.unprocessable("Object does not exist")
		return
	}
	if ff := isAncestor(g, cur.Hash(), h); !ff && !in.Force {
		c.unprocessable("Update is not a fast forward")
		return
	} else if !ff && c.refusesForce(name.String()) {
		return
	}
	if err := s.setRef(c.repo, g, name, cur.Hash(), h, c.p.asUser(s)); err != nil {
		c.error(http.StatusInternalServerError, err.Error())
		return
	}
	ref, _ := g.Storer.Reference(name)
	c.json(http.StatusOK, s.refJSON(c.repo, ref))
}

func (s *Server) handleDeleteRef(c *reqCtx) {
	g, ok := c.open()
	if !ok {
		return
	}
	name := plumbing.ReferenceName("refs/" + c.r.PathValue("ref"))
	cur, err := g.Storer.Reference(name)
	if err != nil || name.Validate() != nil {
		c.unprocessable("Reference does not exist")
		return
	}
	if c.refusesDelete(name.String()) {
		return
	}
	if err := s.setRef(c.repo, g, name, cur.Hash(), plumbing.ZeroHash, c.p.asUser(s)); err != nil {
		c.error(http.StatusInternalServerError, err.Error())
		return
	}
	c.w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleGetContents(c *reqCtx) {
	g, ok := c.open()
	if !ok {
		return
	}
	ref := c.r.URL.Query().Get("ref")
	if ref == "" {
		ref = c.repo.defaultBranch
	}
	cm, err := resolve(g, ref)
	if err != nil {
		c.error(http.StatusNotFound, "No commit found for the ref "+ref)
		return
	}
	root, err := cm.Tree()
	if err != nil {
		c.error(http.StatusInternalServerError, err.Error())
		return
	}
	p := strings.Trim(c.r.PathValue("path"), "/")
	entryJSON := func(p string, e object.TreeEntry) *github.RepositoryContent {
		typ := "file"
		switch e.Mode {
		case filemode.Dir:
			typ = "dir"
		case filemode.Symlink:
			typ = "symlink"
		case filemode.Submodule:
			typ = "submodule"
		}
		rc := &github.RepositoryContent{
			Type: github.String(typ), Name: github.String(path.Base(p)), Path: github.String(p),
			SHA:     github.String(e.Hash.String()),
			URL:     github.String(s.apiURL(c.repo, "contents", p) + "?ref=" + ref),
			HTMLURL: github.String(s.htmlURL(c.repo, "blob", ref, p)),
			GitURL:  github.String(s.apiURL(c.repo, "git/blobs", e.Hash.String())),
		}
		if typ == "file" {
			rc.DownloadURL = github.String(s.URL() + "/raw/" + c.repo.fullName() + "/" + ref + "/" + p)
			if sz, err := g.Storer.EncodedObjectSize(e.Hash); err == nil {
				rc.Size = github.Int(int(sz))
			}
		} else {
			rc.Size = github.Int(0)
		}
		return rc
	}
	listDir := func(prefix string, t *object.Tree) {
		out := []*github.RepositoryContent{}
		for _, e := range t.Entries {
			out = append(out, entryJSON(path.Join(prefix, e.Name), e))
		}
		c.json(http.StatusOK, out)
	}
	if p == "" {
		listDir("", root)
		return
	}
	e, err := root.FindEntry(p)
	if err != nil {
		c.error(http.StatusNotFound, "Not Found")
		return
	}
	if e.Mode == filemode.Dir {
		t, err := g.TreeObject(e.Hash)
		if err != nil {
			c.error(http.StatusInternalServerError, err.Error())
			return
		}
		listDir(p, t)
		return
	}
	rc := entryJSON(p, *e)
	if e.Mode.IsFile() {
		b, err := g.BlobObject(e.Hash)
		if err != nil {
			c.error(http.StatusInternalServerError, err.Error())
			return
		}
		rd, err := b.Reader()
		if err != nil {
			c.error(http.StatusInternalServerError, err.Error())
			return
		}
		data, err := io.ReadAll(rd)
		_ = rd.Close()
		if err != nil {
			c.error(http.StatusInternalServerError, err.Error())
			return
		}
		rc.Encoding = github.String("base64")
		rc.Content = github.String(base64Lines(data))
	}
	c.json(http.StatusOK, rc)
}

func (s *Server) repoCommitJSON(r *repo, g *git.Repository, cm *object.Commit, withFiles bool) (*github.RepositoryCommit, error) {
	sha := cm.Hash.String()
	out := &github.RepositoryCommit{
		SHA: github.String(sha), NodeID: github.String("C_" + sha[:12]), Commit: s.commitJSON(r, cm),
		URL:     github.String(s.apiURL(r, "commits", sha)),
		HTMLURL: github.String(s.htmlURL(r, "commit", sha)),
		Parents: []*github.Commit{},
	}
	if l := loginFromEmail(cm.Author.Email); l != nil {
		out.Author = s.user(*l, "User")
	}
	for _, p := range cm.ParentHashes {
		out.Parents = append(out.Parents, &github.Commit{SHA: github.String(p.String()), URL: github.String(s.apiURL(r, "commits", p.String())),
			HTMLURL: github.String(s.htmlURL(r, "commit", p.String()))})
	}
	if !withFiles {
		return out, nil
	}
	to, err := cm.Tree()
	if err != nil {
		return nil, err
	}
	var from *object.Tree
	if cm.NumParents() > 0 {
		p, err := cm.Parent(0)
		if err != nil {
			return nil, err
		}
		if from, err = p.Tree(); err != nil {
			return nil, err
		}
	}
	files, err := s.diffFiles(r, from, to, sha)
	if err != nil {
		return nil, err
	}
	add, del := 0, 0
	for _, f := range files {
		add += f.GetAdditions()
		del += f.GetDeletions()
	}
	out.Files = files
	out.Stats = &github.CommitStats{Additions: github.Int(add), Deletions: github.Int(del), Total: github.Int(add + del)}
	return out, nil
}

func (s *Server) handleGetRepoCommit(c *reqCtx) {
	g, ok := c.open()
	if !ok {
		return
	}
	ref := c.r.PathValue("ref")
	cm, err := resolve(g, ref)
	if err != nil {
		c.unprocessable("No commit found for SHA: " + ref)
		return
	}
	out, err := s.repoCommitJSON(c.repo, g, cm, true)
	if err != nil {
		c.error(http.StatusInternalServerError, err.Error())
		return
	}
	c.json(http.StatusOK, out)
}

func (s *Server) handleCompare(c *reqCtx) {
	g, ok := c.open()
	if !ok {
		return
	}
	base, head, found := strings.Cut(c.r.PathValue("basehead"), "...")
	if !found {
		c.error(http.StatusNotFound, "Not Found")
		return
	}
	bc, err1 := resolve(g, base)
	hc, err2 := resolve(g, head)
	if err1 != nil || err2 != nil {
		c.error(http.StatusNotFound, "Not Found")
		return
	}
	mb, err := mergeBase(g, bc.Hash, hc.Hash)
	if err != nil || mb.IsZero() {
		c.error(http.StatusNotFound, "Not Found") // GitHub: "No common ancestor"
		return
	}
	count := func(from, to plumbing.Hash) ([]plumbing.Hash, error) {
		out, err := runGit(c.r.Context(), c.repo.dir, nil, "rev-list", "--reverse", to.String(), "^"+from.String())
		if err != nil {
			return nil, err
		}
		var hs []plumbing.Hash
		for _, l := range strings.Fields(string(out)) {
			hs = append(hs, plumbing.NewHash(l))
		}
		return hs, nil
	}
	ahead, err := count(bc.Hash, hc.Hash)
	if err != nil {
		c.error(http.StatusInternalServerError, err.Error())
		return
	}
	behind, err := count(hc.Hash, bc.Hash)
	if err != nil {
		c.error(http.StatusInternalServerError, err.Error())
		return
	}
	status := "diverged"
	switch {
	case len(ahead) == 0 && len(behind) == 0:
		status = "identical"
	case len(behind) == 0:
		status = "ahead"
	case len(ahead) == 0:
		status = "behind"
	}
	mbc, err := g.CommitObject(mb)
	if err != nil {
		c.error(http.StatusInternalServerError, err.Error())
		return
	}
	baseJSON, err1 := s.repoCommitJSON(c.repo, g, bc, false)
	mbJSON, err2 := s.repoCommitJSON(c.repo, g, mbc, false)
	from, err3 := mbc.Tree()
	to, err4 := hc.Tree()
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		c.error(http.StatusInternalServerError, err.Error())
		return
	}
	files, err := s.diffFiles(c.repo, from, to, hc.Hash.String())
	if err != nil {
		c.error(http.StatusInternalServerError, err.Error())
		return
	}
	commits := []*github.RepositoryCommit{}
	for _, h := range ahead {
		cm, err := g.CommitObject(h)
		if err != nil {
			c.error(http.StatusInternalServerError, err.Error())
			return
		}
		rc, err := s.repoCommitJSON(c.repo, g, cm, false)
		if err != nil {
			c.error(http.StatusInternalServerError, err.Error())
			return
		}
		commits = append(commits, rc)
	}
	bh := c.r.PathValue("basehead")
	c.json(http.StatusOK, &github.CommitsComparison{
		BaseCommit: baseJSON, MergeBaseCommit: mbJSON, Status: github.String(status),
		AheadBy: github.Int(len(ahead)), BehindBy: github.Int(len(behind)), TotalCommits: github.Int(len(ahead)),
		Commits: commits, Files: files,
		HTMLURL: github.String(s.htmlURL(c.repo, "compare", bh)), PermalinkURL: github.String(s.htmlURL(c.repo, "compare", bh)),
		DiffURL: github.String(s.htmlURL(c.repo, "compare", bh) + ".diff"), PatchURL: github.String(s.htmlURL(c.repo, "compare", bh) + ".patch"),
		URL: github.String(s.apiURL(c.repo, "compare", bh)),
	})
}
