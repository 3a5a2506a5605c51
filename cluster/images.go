package cluster

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/pkg/jsonmessage"
)

// Node base images.
const (
	// DefaultNodeBase is the Docker-in-Docker image nodes are built on.
	DefaultNodeBase = "docker:28-dind"
	// OfflineNodeBase is what scripts/build-node-base makes where nothing
	// can be pulled.
	OfflineNodeBase = "mini-node-base:bookworm"
	// NodeBaseEnv overrides the node base image (like --node-base-image).
	NodeBaseEnv = "MINI_NODE_BASE_IMAGE"
)

// Paths of the mini binary inside mini's images.
const (
	scratchBinary = "/mini"
	nodeBinary    = "/usr/local/bin/mini"
)

// self is the running executable and its digest, computed once.
var self struct {
	once sync.Once
	path string
	sum  string // hex sha256
	err  error
}

func selfBinary() (path, sum string, err error) {
	self.once.Do(func() {
		self.path, self.err = os.Executable()
		if self.err != nil {
			return
		}
		f, err := os.Open(self.path)
		if err != nil {
			self.err = err
			return
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			self.err = err
			return
		}
		self.sum = hex.EncodeToString(h.Sum(nil))
	})
	if self.err != nil {
		return "", "", fmt.Errorf("read mini's own executable: %w", self.err)
	}
	return self.path, self.sum, nil
}

// checkStatic refuses a dynamically linked executable, which cannot run in
// the FROM scratch image.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return nil // not ELF (another OS): the engine's Linux VM gets the Linux build
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; mini's control plane and load balancer images are FROM scratch: build it with CGO_ENABLED=0", path)
		}
	}
	return nil
}

var tagUnsafe = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// imageTag is <version>-<first 12 hex digits of the binary's sha256>.
func imageTag(sum string) string {
	return tagUnsafe.ReplaceAllString(Version, "-") + "-" + sum[:12]
}

// imageExists reports whether ref is present in the host's Docker.
func imageExists(ctx context.Context, d *Docker, ref string) (image.InspectResponse, bool, error) {
	insp, err := d.ImageInspect(ctx, ref)
	if err == nil {
		return insp, true, nil
	}
	if isNotFound(err) {
		return insp, false, nil
	}
	return insp, false, fmt.Errorf("inspect image %s: %w", ref, err)
}

// EnsureMiniImage returns mini:<tag>, the FROM scratch image of the control
// plane and load balancer, building it from this executable if absent.
func EnsureMiniImage(ctx context.Context, d *Docker) (string, error) {
	path, sum, err := selfBinary()
	if err != nil {
		return "", err
	}
	if err := checkStatic(path); err != nil {
		return "", err
	}
	ref := "mini:" + imageTag(sum)
	dockerfile := fmt.Sprintf("FROM scratch\nCOPY mini %s\nENTRYPOINT [%q]\n", scratchBinary, scratchBinary)
	return ref, ensureImage(ctx, d, ref, dockerfile, path)
}

// EnsureNodeImage returns mini-node:<tag>, base plus this executable as
// the node agent, building it if absent.
func EnsureNodeImage(ctx context.Context, d *Docker, base string) (string, error) {
	path, sum, err := selfBinary()
	if err != nil {
		return "", err
	}
	insp, ok, err := imageExists(ctx, d, base)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("node base image %s is not present", base)
	}
	baseID := strings.TrimPrefix(insp.ID, "sha256:")
	ref := "mini-node:" + imageTag(sum) + "-" + baseID[:min(8, len(baseID))]
	dockerfile := fmt.Sprintf("FROM %s\nCOPY mini %s\nENTRYPOINT [%q, \"node\", \"agent\"]\nCMD []\n", base, nodeBinary, nodeBinary)
	return ref, ensureImage(ctx, d, ref, dockerfile, path)
}

// ensureImage builds ref from dockerfile with the binary as "mini" in the
// context, unless ref exists.
func ensureImage(ctx context.Context, d *Docker, ref, dockerfile, binary string) error {
	if _, ok, err := imageExists(ctx, d, ref); err != nil || ok {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeBuildContext(pw, dockerfile, binary)) }()
	defer pr.Close()
	resp, err := d.ImageBuild(ctx, pr, build.ImageBuildOptions{
		Tags: []string{ref}, Remove: true, ForceRemove: true, Version: build.BuilderV1,
		Labels: map[string]string{"mini.image": ref, LabelVersion: Version},
	})
	if err != nil {
		return fmt.Errorf("build image %s: %w", ref, err)
	}
	defer resp.Body.Close()
	if err := jsonmessage.DisplayJSONMessagesStream(resp.Body, io.Discard, 0, false, nil); err != nil {
		return fmt.Errorf("build image %s: %w", ref, err)
	}
	pruneOldImages(ctx, d, ref)
	return nil
}

// pruneOldImages removes the images of ref's repository that earlier mini
// binaries built (label mini.image), once they are over ten minutes old
// and no container uses them, so rebuilding mini does not pile them up.
// The engine refuses to remove an image a container uses; that refusal is
// the intended outcome, so errors are ignored.
func pruneOldImages(ctx context.Context, d *Docker, ref string) {
	repo, _, _ := strings.Cut(ref, ":")
	imgs, err := d.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "mini.image"), filters.Arg("reference", repo+":*"))})
	if err != nil {
		return
	}
	for _, im := range imgs {
		if slices.Contains(im.RepoTags, ref) || time.Since(time.Unix(im.Created, 0)) < 10*time.Minute {
			continue
		}
		d.ImageRemove(ctx, im.ID, image.RemoveOptions{PruneChildren: true})
	}
}

func writeBuildContext(w io.Writer, dockerfile, binary string) error {
	f, err := os.Open(binary)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	now := time.Now()
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile)), ModTime: now}); err != nil {
		return err
	}
	if _, err := io.WriteString(tw, dockerfile); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: "mini", Mode: 0o755, Size: st.Size(), ModTime: now}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, f); err != nil {
		return err
	}
	return tw.Close()
}

// BaseChoice is the node base image a create uses and why.
type BaseChoice struct {
	Image string
	Note  string // said to the user when the choice is not the obvious one
}

// ResolveNodeBase picks the node base image: requested (flag, else the
// NodeBaseEnv variable) if given, pulled if absent; otherwise
// DefaultNodeBase, any other local docker:*-dind, or OfflineNodeBase,
// whichever is present first, and DefaultNodeBase pulled when none is.
// say (may be nil) is told before a pull starts.
func ResolveNodeBase(ctx context.Context, d *Docker, requested string, say func(format string, a ...any)) (BaseChoice, error) {
	if say == nil {
		say = func(string, ...any) {}
	}
	if requested == "" {
		requested = os.Getenv(NodeBaseEnv)
	}
	if requested != "" {
		if _, ok, err := imageExists(ctx, d, requested); err != nil || ok {
			return BaseChoice{Image: requested}, err
		}
		say("  pulling node base image %s (once)", requested)
		if err := pull(ctx, d, requested); err != nil {
			return BaseChoice{}, &BaseImageError{fmt.Errorf("node base image %s is not present and could not be pulled: %w", requested, err)}
		}
		return BaseChoice{Image: requested, Note: "pulled node base image " + requested}, nil
	}
	if _, ok, err := imageExists(ctx, d, DefaultNodeBase); err != nil || ok {
		return BaseChoice{Image: DefaultNodeBase}, err
	}
	if dind, err := localDind(ctx, d); err != nil || dind != "" {
		return BaseChoice{Image: dind, Note: fmt.Sprintf("using node base image %s (%s is not present)", dind, DefaultNodeBase)}, err
	}
	if _, ok, err := imageExists(ctx, d, OfflineNodeBase); err != nil || ok {
		return BaseChoice{Image: OfflineNodeBase, Note: fmt.Sprintf("using the offline node base image %s (%s is not present)", OfflineNodeBase, DefaultNodeBase)}, err
	}
	say("  pulling node base image %s (once)", DefaultNodeBase)
	if err := pull(ctx, d, DefaultNodeBase); err != nil {
		return BaseChoice{}, &BaseImageError{fmt.Errorf("no node base image: %s is not present and could not be pulled (%v), and %s does not exist; "+
			"build the offline one with scripts/build-node-base, or pass --node-base-image", DefaultNodeBase, err, OfflineNodeBase)}
	}
	return BaseChoice{Image: DefaultNodeBase, Note: "pulled node base image " + DefaultNodeBase}, nil
}

// localDind returns the newest local docker:*-dind image, or "".
func localDind(ctx context.Context, d *Docker) (string, error) {
	imgs, err := d.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", "docker:*-dind"))})
	if err != nil {
		return "", fmt.Errorf("list images: %w", err)
	}
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].Created > imgs[j].Created })
	for _, im := range imgs {
		for _, t := range im.RepoTags {
			if strings.HasPrefix(t, "docker:") && strings.HasSuffix(t, "-dind") {
				return t, nil
			}
		}
	}
	return "", nil
}

// pull pulls ref, giving up after two minutes.
func pull(ctx context.Context, d *Docker, ref string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	rc, err := d.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return err
	}
	defer rc.Close()
	return jsonmessage.DisplayJSONMessagesStream(rc, io.Discard, 0, false, nil)
}

// BaseImageError says the node base image cannot be had.
type BaseImageError struct{ Err error }

func (e *BaseImageError) Error() string { return e.Err.Error() }
func (e *BaseImageError) Unwrap() error { return e.Err }
