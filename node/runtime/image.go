package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/errdefs"
)

// ImageID returns the ID of a local image, or "" when it is not present.
func (r *Runtime) ImageID(ctx context.Context, ref string) (string, error) {
	in, err := r.dc.ImageInspect(ctx, ref)
	if errdefs.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return in.ID, nil
}

// Pull pulls an image and returns the daemon's error, if any, as an error.
func (r *Runtime) Pull(ctx context.Context, ref string) error {
	rc, err := r.dc.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return err
	}
	defer rc.Close()
	return readJSONMessages(rc)
}

// readJSONMessages drains a Docker progress stream and returns its first
// error message as an error.
func readJSONMessages(rc io.Reader) error {
	dec := json.NewDecoder(rc)
	for {
		var msg struct {
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading the daemon's progress: %w", err)
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
		if msg.ErrorDetail.Message != "" {
			return errors.New(msg.ErrorDetail.Message)
		}
	}
}
