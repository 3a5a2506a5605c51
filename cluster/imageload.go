package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
)

// loadedImagesFile remembers, in the control plane's volume, the images
// loaded into a cluster, one reference a line.
const loadedImagesFile = "/data/mini-loaded-images"

// LoadImages copies images from the host's Docker into every running node
// of the cluster (docker save on the host streamed into docker load in each
// node, all at once), and remembers them for nodes added later.
func LoadImages(ctx context.Context, d *Docker, cluster string, images []string) ([]string, error) {
	if err := hostImages(ctx, d, images); err != nil {
		return nil, err
	}
	s, err := loadState(ctx, d, cluster)
	if err != nil {
		return nil, err
	}
	var nodes []string
	for _, n := range s.nodes {
		if n.State == "running" {
			nodes = append(nodes, containerName(n))
		}
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("cluster %s has no running node (start it with: mini cluster start %s)", cluster, cluster)
	}
	if err := saveFromHost(ctx, d, images, nodes); err != nil {
		return nil, err
	}
	return nodes, remember(ctx, d, s.ctrl.ID, images)
}

// hostImages fails unless every image is in the host's Docker.
func hostImages(ctx context.Context, d *Docker, images []string) error {
	for _, img := range images {
		if _, ok, err := imageExists(ctx, d, img); err != nil {
			return err
		} else if !ok {
			return &NotFoundError{What: fmt.Sprintf("image %s in the host's Docker (build or pull it first)", img)}
		}
	}
	return nil
}

// ImageTags lists the tagged images of the host's Docker (what LoadImages
// can load).
func ImageTags(ctx context.Context, d *Docker) ([]string, error) {
	imgs, err := d.ImageList(ctx, image.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var out []string
	for _, i := range imgs {
		for _, t := range i.RepoTags {
			if !strings.Contains(t, "<none>") {
				out = append(out, t)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// saveFromHost streams `docker save images` of the host into every node.
func saveFromHost(ctx context.Context, d *Docker, images, nodes []string) error {
	rc, err := d.ImageSave(ctx, images)
	if err != nil {
		return fmt.Errorf("save %s from the host's Docker: %w", strings.Join(images, " "), err)
	}
	defer rc.Close()
	return fanOut(ctx, d, rc, nodes)
}

// fanOut feeds src to `docker load` in every node at once. A node that
// fails stops receiving; the others go on.
func fanOut(ctx context.Context, d *Docker, src io.Reader, nodes []string) error {
	pws := make([]*io.PipeWriter, len(nodes))
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		pr, pw := io.Pipe()
		pws[i] = pw
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := execIn(ctx, d, n, pr, "docker", "load", "-q")
			if err != nil {
				errs[i] = fmt.Errorf("load into node %s: %w", n, err)
			}
			pr.CloseWithError(errors.Join(err, io.ErrClosedPipe))
		}()
	}
	buf := make([]byte, 1<<20)
	var rerr error
	for {
		n, err := src.Read(buf)
		if n > 0 {
			live := 0
			for i, pw := range pws {
				if pw == nil {
					continue
				}
				if _, werr := pw.Write(buf[:n]); werr != nil {
					pws[i] = nil
					continue
				}
				live++
			}
			if live == 0 {
				break
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				rerr = fmt.Errorf("read the image archive: %w", err)
			}
			break
		}
	}
	for _, pw := range pws {
		if pw != nil {
			pw.CloseWithError(rerr)
		}
	}
	wg.Wait()
	return errors.Join(append(errs, rerr)...)
}

// remembered returns the images loaded into the cluster so far.
func remembered(ctx context.Context, d *Docker, ctrl string) ([]string, error) {
	data, err := readContainerFile(ctx, d, ctrl, loadedImagesFile)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read %s: %w", loadedImagesFile, err)
	}
	return strings.Fields(string(data)), nil
}

// remember adds images to the remembered list.
func remember(ctx context.Context, d *Docker, ctrl string, images []string) error {
	have, err := remembered(ctx, d, ctrl)
	if err != nil {
		return err
	}
	all := append(have, images...)
	sort.Strings(all)
	all = slices.Compact(all)
	archive, err := tarFiles(map[string][]byte{"mini-loaded-images": []byte(strings.Join(all, "\n") + "\n")}, nil)
	if err != nil {
		return err
	}
	if err := d.CopyToContainer(ctx, ctrl, "/data", strings.NewReader(string(archive)), container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("write %s: %w", loadedImagesFile, err)
	}
	return nil
}

// loadRemembered loads the cluster's remembered images into new nodes:
// from the host where it still has them, else from a running older node.
func loadRemembered(ctx context.Context, d *Docker, s *state, newNodes []string) error {
	images, err := remembered(ctx, d, s.ctrl.ID)
	if err != nil || len(images) == 0 {
		return err
	}
	var onHost, elsewhere []string
	for _, img := range images {
		if _, ok, _ := imageExists(ctx, d, img); ok {
			onHost = append(onHost, img)
		} else {
			elsewhere = append(elsewhere, img)
		}
	}
	if len(onHost) > 0 {
		if err := saveFromHost(ctx, d, onHost, newNodes); err != nil {
			return err
		}
	}
	if len(elsewhere) == 0 {
		return nil
	}
	for _, n := range s.nodes {
		if n.State != "running" || slices.Contains(newNodes, containerName(n)) {
			continue
		}
		pr, pw := io.Pipe()
		go func() {
			pw.CloseWithError(execStream(ctx, d, containerName(n), nil, pw, io.Discard, append([]string{"docker", "save"}, elsewhere...)...))
		}()
		err := fanOut(ctx, d, pr, newNodes)
		pr.Close()
		return err
	}
	return fmt.Errorf("images %s are neither in the host's Docker nor on a running node", strings.Join(elsewhere, " "))
}
