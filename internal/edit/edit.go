// Package edit changes exactly one scalar (an image tag or digest) in a
// repository file and leaves every other byte alone.
//
// The editors parse with the YAML node API that kyaml exposes only to locate
// the scalar, then splice new text into the original bytes. Every Set
// re-parses its own output and checks that the file now reports the new Ref
// and is otherwise structurally unchanged, so a bug cannot silently corrupt a
// file: it returns an error instead.
//
// Choices where the file format leaves room:
//   - Kustomize: setting only a tag writes newTag and removes a digest from
//     the entry (kustomize renders name:tag@digest, so a stale digest would
//     win at runtime). Setting only a digest writes digest and leaves newTag
//     alone. Setting both writes both.
//   - Helm: the field receives the tag, the digest, or "tag@digest".
//   - Manifests: the image becomes repo:tag, repo@digest or repo:tag@digest;
//     the repository already in the file is kept. Every container with the
//     name is changed (one file may hold several workloads); Get reports the
//     first.
package edit

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/promobot/promobot/internal/intent"
)

// Kind is the kind of file an edit applies to.
type Kind int

const (
	// KindKustomize is a kustomization.yaml images list.
	KindKustomize Kind = iota + 1
	// KindHelm is a Helm values file field.
	KindHelm
	// KindManifest is a container image in a workload manifest.
	KindManifest
)

// String names the kind as the rules file does.
func (k Kind) String() string {
	switch k {
	case KindKustomize:
		return "kustomize"
	case KindHelm:
		return "helm"
	case KindManifest:
		return "manifest"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Spec says where a service's tag lives in one file.
type Spec struct {
	Kind      Kind
	Image     string // the service's image, e.g. registry.example.com/payment-service
	Field     string // Helm: dotted path, e.g. image.tag or services.api.image.tag
	Container string // Manifest: container name
}

// Ref is what runs: a tag, a digest, or both.
type Ref struct{ Tag, Digest string }

// String renders the ref as an image reference suffix: "v1", "sha256:…" or "v1@sha256:…".
func (r Ref) String() string {
	switch {
	case r.Tag != "" && r.Digest != "":
		return r.Tag + "@" + r.Digest
	case r.Digest != "":
		return r.Digest
	}
	return r.Tag
}

var (
	// ErrNotFound means the file has no entry for this image, field or container.
	ErrNotFound = errors.New("not found")
	// ErrTooLarge means the input is over MaxFileSize.
	ErrTooLarge = errors.New("file too large")
)

// MaxFileSize is the largest input the editors accept.
const MaxFileSize = 10 << 20

var (
	imageName   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/:-]{0,511}$`)
	fieldSeg    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]{0,252}$`)
	containerNm = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$`)
)

// Get reports what the file sets now.
func Get(data []byte, s Spec) (Ref, error) {
	if err := checkSpec(s); err != nil {
		return Ref{}, err
	}
	f, err := parse(data)
	if err != nil {
		return Ref{}, err
	}
	return get(f, s)
}

func get(f *file, s Spec) (Ref, error) {
	switch s.Kind {
	case KindKustomize:
		return getKustomize(f, s)
	case KindHelm:
		return getHelm(f, s)
	case KindManifest:
		return getManifest(f, s)
	}
	return Ref{}, fmt.Errorf("unknown edit kind %v", s.Kind)
}

// Set returns the file with only the scalar for s changed to r.
func Set(data []byte, s Spec, r Ref) ([]byte, error) {
	if err := checkSpec(s); err != nil {
		return nil, err
	}
	if err := checkRef(r); err != nil {
		return nil, err
	}
	f, err := parse(data)
	if err != nil {
		return nil, err
	}
	var sp []splice
	var want Ref
	switch s.Kind {
	case KindKustomize:
		sp, want, err = setKustomize(f, s, r)
	case KindHelm:
		sp, want, err = setHelm(f, s, r)
	case KindManifest:
		sp, want, err = setManifest(f, s, r)
	}
	if err != nil {
		return nil, err
	}
	out, err := apply(f.src, sp)
	if err != nil {
		return nil, err
	}
	if err := verify(f, out, s, want); err != nil {
		return nil, fmt.Errorf("self-check of %s edit failed (file left unchanged): %w", s.Kind, err)
	}
	return out, nil
}

func checkSpec(s Spec) error {
	switch s.Kind {
	case KindKustomize:
		if !imageName.MatchString(s.Image) {
			return fmt.Errorf("invalid image name %q", s.Image)
		}
	case KindHelm:
		if s.Field == "" {
			return errors.New("helm edit needs a field")
		}
		for _, seg := range strings.Split(s.Field, ".") {
			if !fieldSeg.MatchString(seg) {
				return fmt.Errorf("invalid field path %q", s.Field)
			}
		}
	case KindManifest:
		if !containerNm.MatchString(s.Container) {
			return fmt.Errorf("invalid container name %q", s.Container)
		}
	default:
		return fmt.Errorf("unknown edit kind %v", s.Kind)
	}
	return nil
}

func checkRef(r Ref) error {
	if r.Tag == "" && r.Digest == "" {
		return errors.New("empty ref: need a tag or a digest")
	}
	if r.Tag != "" && !intent.ValidTag(r.Tag) {
		return fmt.Errorf("invalid tag %q", r.Tag)
	}
	if r.Digest != "" && !intent.ValidDigest(r.Digest) {
		return fmt.Errorf("invalid digest %q", r.Digest)
	}
	return nil
}
