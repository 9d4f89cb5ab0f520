#!/usr/bin/env bash
# node-conf.sh: the configuration files of the test node, sourced by
# hack/node.sh (not run by itself). Every path is in the node's state
# directory; every setting this machine forces says why next to it (the
# machine facts are in docs/NODE.md).
#
# Uses from hack/node.sh: STATE, NAME, NODE_IP, HOST_IP, POD_CIDR,
# CLUSTER_CIDR, DNS_IP, RELAY_DNS, CGROUP, NODE_BIN, KUBELET_PORT,
# PAUSE_IMAGE, KUBECONFIG_FILE, CLIENT_CA.
# shellcheck disable=SC2154 # the variables are hack/node.sh's

# conf_containerd: containerd 2.x, config version 4. The gRPC and ttrpc
# addresses belong under their server plugins: a top-level [grpc] table
# is silently ignored in version 4 (containerd would listen on
# /run/containerd/containerd.sock).
conf_containerd() {
	local d=$STATE/containerd
	mkdir -p "$d/root" "$d/state" "$d/runc" "$d/opt"
	cat >"$d/config.toml" <<EOF
# written by hack/node.sh; do not edit
version = 4
root = '$d/root'
state = '$d/state'
# NRI would open /var/run/nri; nothing here uses it
disabled_plugins = ['io.containerd.nri.v1.nri']

[plugins]
  [plugins.'io.containerd.server.v1.grpc']
    address = '$d/containerd.sock'
  [plugins.'io.containerd.server.v1.ttrpc']
    address = '$d/containerd.sock.ttrpc'
  [plugins.'io.containerd.server.v1.debug']
    address = ''
  [plugins.'io.containerd.server.v1.metrics']
    address = ''
  [plugins.'io.containerd.internal.v1.opt']
    path = '$d/opt'
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      # our pause image (images/pause), imported, never pulled
      sandbox = '$PAUSE_IMAGE'
    # registries: certs.d/<host:port>/hosts.toml (conf_registry)
    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = '$d/certs.d'
$(conf_registry "$d")
  [plugins.'io.containerd.cri.v1.runtime']
    # this machine forbids lowering oom_score_adj (no CAP_SYS_RESOURCE in
    # the bounding set): without this, runc init fails writing -998 for
    # every sandbox ("failed to update /proc/self/oom_score_adj:
    # Permission denied")
    restrict_oom_score_adj = true
    # cgroup v1 here has no hugetlb controller
    tolerate_missing_hugetlb_controller = true
    disable_hugetlb_controller = true
    # Pod network namespaces in the state directory, not /var/run/netns
    netns_mounts_under_state_dir = true
    enable_selinux = false
    disable_apparmor = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
        sandboxer = 'podsandbox'
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = '/usr/sbin/runc'
          Root = '$d/runc'
          # no systemd on this machine: kubelet and runc use cgroupfs
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ['/usr/lib/cni']
      conf_dir = '$STATE/cni/net.d'
      max_conf_num = 1
  [plugins.'io.containerd.grpc.v1.cri']
    # kubectl exec/attach/port-forward streams, inside the node's network
    stream_server_address = '127.0.0.1'
    stream_server_port = '0'
EOF
}

# conf_registry DIR: a registry the node pulls from, when NODE_REGISTRY
# (host:port) is set: tests/e2e/test_release.sh's local registry, TLS from
# its test CA (NODE_REGISTRY_CA) in hosts.toml, and basic-auth
# credentials (NODE_REGISTRY_AUTH=user:password) as the CRI registry's
# auth, printed for the containerd config: relay Pods name no
# imagePullSecrets, so the node holds them, as a node's registry
# credentials do.
conf_registry() {
	[ -n "${NODE_REGISTRY:-}" ] || return 0
	local h=$1/certs.d/$NODE_REGISTRY
	mkdir -p "$h"
	cp "${NODE_REGISTRY_CA:?NODE_REGISTRY_CA with NODE_REGISTRY}" "$h/ca.crt"
	cat >"$h/hosts.toml" <<EOF
server = 'https://$NODE_REGISTRY'
[host.'https://$NODE_REGISTRY']
  capabilities = ['pull', 'resolve']
  ca = '$h/ca.crt'
EOF
	[ -n "${NODE_REGISTRY_AUTH:-}" ] || return 0
	cat <<EOF
    [plugins.'io.containerd.cri.v1.images'.registry.configs.'$NODE_REGISTRY'.auth]
      username = '${NODE_REGISTRY_AUTH%%:*}'
      password = '${NODE_REGISTRY_AUTH#*:}'
EOF
}

# conf_cni: one bridge in the node's network namespace; no masquerade
# (nothing leaves the node: it has no default route), hairpin so a Pod
# reaches itself through its Service.
conf_cni() {
	mkdir -p "$STATE/cni/net.d" "$STATE/cni/ipam"
	cat >"$STATE/cni/net.d/10-chatmail-node.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "chatmail-node", "plugins": [
 {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false,
  "hairpinMode": true,
  "ipam": {"type": "host-local", "dataDir": "$STATE/cni/ipam",
           "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
 {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
}

# conf_kubelet: the KubeletConfiguration. cgroup v1 and no systemd:
# failCgroupV1 false (1.35+ refuses cgroup v1 otherwise: "kubelet is
# configured to not run on a host using cgroup v1") and the cgroupfs
# driver; cgroupRoot of this node's own, so two nodes on one machine
# never manage each other's Pod cgroups; oomScoreAdj 0 (kubelet's -999
# is refused here); syncFrequency 10 s so a changed Secret reaches its
# volume within seconds (the default minute is as real, only slower).
conf_kubelet() {
	local d=$STATE/kubelet
	mkdir -p "$d/root" "$d/pod-logs"
	echo "nameserver $RELAY_DNS" >"$d/resolv.conf"
	cat >"$d/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: true
cgroupRoot: /$CGROUP
enforceNodeAllocatable: ["pods"]
failSwapOn: false
oomScoreAdj: 0
protectKernelDefaults: false
makeIPTablesUtilChains: false
containerRuntimeEndpoint: unix://$STATE/containerd/containerd.sock
staticPodPath: ""
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $CLIENT_CA}
authorization:
  mode: AlwaysAllow
podLogsDir: $d/pod-logs
resolvConf: $d/resolv.conf
clusterDomain: cluster.local
clusterDNS: [$DNS_IP]
registerNode: true
rotateCertificates: false
serverTLSBootstrap: false
syncFrequency: 10s
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "2%", imagefs.available: "2%"}
EOF
}

# conf_kube_proxy: iptables mode in the node's network namespace. The
# conntrack settings at 0 keep kube-proxy from writing the machine-wide
# nf_conntrack sysctls; localhostNodePorts off keeps route_localnet.
conf_kube_proxy() {
	mkdir -p "$STATE/kube-proxy"
	cat >"$STATE/kube-proxy/config.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $KUBECONFIG_FILE}
hostnameOverride: $NAME
mode: iptables
clusterCIDR: $CLUSTER_CIDR
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false}
EOF
}

# conf_sysctls: the values kubelet's setupKernelTunables wants, as files
# bound read-only over /proc/sys in the node's mount namespace only.
# kubelet finds them as it wants them and writes nothing; the machine
# keeps vm.overcommit_memory 0, kernel.panic 1 and kernel.panic_on_oops
# 0 (kubelet would set 1, 10 and 1: an oops would then panic the VM).
SYSCTLS="vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10
kernel/panic_on_oops=1 kernel/keys/root_maxkeys=1000000
kernel/keys/root_maxbytes=25000000"
conf_sysctls() {
	local kv
	mkdir -p "$STATE/sysctl"
	for kv in $SYSCTLS; do
		echo "${kv#*=}" >"$STATE/sysctl/$(echo "${kv%%=*}" | tr / .)"
	done
}
