package rules

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// maxTargetSize bounds how much of one target file CheckTargets reads: tag
// files are small, and a checkout is not trusted to keep them so.
const maxTargetSize = 10 << 20

// CheckTargets checks every target of every service against fsys, a
// checkout of the services' repository: the file must exist (for a kustomize
// directory, one of KustomizationNames in it), and check, given its content,
// must accept it. check says whether the file sets the service's image; its
// error is the problem as reported, and a nil check accepts every file. Each problem points at the target in the
// rules file: the service's own entry or, for a generated service, the
// generator that produced it, naming the directory. Problems come in service,
// environment and target order; the error is for a cancelled ctx.
func (r *Rules) CheckTargets(ctx context.Context, fsys fs.FS, check func(svc *Service, t Target, path string, data []byte) error) (Errors, error) {
	c := r.cc()
	pos := &checker{vals: c.vals, keys: c.keys}
	var out Errors
	for si := range r.Services {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		svc := &r.Services[si]
		base, who := indexPath("services", si), "service "+svc.Name
		if o, ok := c.origins[svc.Name]; ok {
			base, who = indexPath("generators", o.Generator)+".service", who+" (from "+o.Dir+")"
		}
		for _, env := range r.EnvNames() {
			for i, t := range svc.Targets[env] {
				err := checkTargetIn(fsys, svc, t, check)
				if err == nil {
					continue
				}
				field := indexPath(keyPath(base+".targets", env), i) + "." + t.Kind()
				at := pos.at(field, false)
				out = append(out, FieldError{File: c.file, Line: at.line, Column: at.col, Field: field, Msg: who + ": " + err.Error()})
			}
		}
	}
	return out, nil
}

// checkTargetIn returns what is wrong with one target in fsys, if anything.
func checkTargetIn(fsys fs.FS, svc *Service, t Target, check func(*Service, Target, string, []byte) error) error {
	exists := func(p string) bool {
		fi, err := fs.Stat(fsys, p)
		return err == nil && fi.Mode().IsRegular()
	}
	p := t.TargetFile(exists)
	if p == "" {
		if fi, err := fs.Stat(fsys, t.Kustomize); err != nil || !fi.IsDir() {
			return errors.New(t.Kustomize + " does not exist")
		}
		return errors.New(t.Kustomize + " has no " + strings.Join(KustomizationNames, ", "))
	}
	if !exists(p) {
		fi, err := fs.Stat(fsys, p)
		if errors.Is(err, fs.ErrNotExist) {
			return errors.New(p + " does not exist")
		}
		// Reading says best why a path that is there cannot be used (a
		// symlink out of the checkout, a directory); anything else that is
		// not a regular file is not opened at all.
		if err != nil || fi.IsDir() {
			if _, err := readTarget(fsys, p); err != nil {
				return err
			}
		}
		return errors.New(p + " is not a regular file")
	}
	data, err := readTarget(fsys, p)
	if err != nil || check == nil {
		return err
	}
	return check(svc, t, p, data)
}

func readTarget(fsys fs.FS, p string) ([]byte, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTargetSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if len(data) > maxTargetSize {
		return nil, fmt.Errorf("read %s: larger than %d bytes", p, maxTargetSize)
	}
	return data, nil
}
