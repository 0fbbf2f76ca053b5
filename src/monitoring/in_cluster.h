#ifndef HUT_MONITORING_IN_CLUSTER_H_
#define HUT_MONITORING_IN_CLUSTER_H_

// Where the charts put hut and the monitoring servers in a cluster
// (k8s/charts/hut, monitoring/templates/): the names the generated
// Prometheus and Alertmanager configurations use to reach each other.
// k8s/check-values.py checks the renders against them.

namespace hut::monitoring {

// The hut chart's namespace; its Service `hut` on port 7480 (the control API).
inline constexpr char kHutNamespace[] = "hut-system";
inline constexpr char kHutServiceUrl[] = "http://hut.hut-system.svc:7480";
// The monitoring chart's Alertmanager (Service alertmanager, port 9093).
inline constexpr char kAlertmanagerAddress[] = "alertmanager.foohut-monitoring.svc:9093";
// Where the monitoring chart mounts, in Alertmanager's pod, the Secret with
// the token it presents to hut's webhook (key `token`).
inline constexpr char kAlertmanagerTokenFile[] = "/etc/alertmanager/hut-token/token";

}  // namespace hut::monitoring

#endif  // HUT_MONITORING_IN_CLUSTER_H_
