// Package cluster owns everything mini does on the host's Docker engine:
// mini's images (built from the running executable), each cluster's network,
// volumes and containers (control plane, nodes, load balancer), and the
// create / delete / list / stop / start / add-node / remove-node / image-load
// operations, plus merging the cluster's entry into the user's kubeconfig.
//
// A cluster's state lives only in Docker: every object carries the labels
// mini.cluster=<name> and mini.role=<role> (see labels.go), the control plane
// container records the API address and the node image, the load balancer
// the published ports, and the credentials sit in the control plane's
// volume (read back with the archive API, even from a stopped container).
// There is no state file.
//
// Create is an ordered list of Steps run by a Runner that undoes what was
// made when a step fails, times out or is interrupted; every object is also
// labelled with the operation's id (mini.op) so a final sweep removes
// anything a cancelled Docker call left behind.
//
// Images loaded with LoadImages are remembered in the file
// /data/mini-loaded-images of the control plane's volume (written with the
// archive API), one reference a line; nodes added later get them from the
// host's Docker, or from a running node when the host no longer has them.
package cluster
