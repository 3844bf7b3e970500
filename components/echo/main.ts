// The echo workload the lessons curl: every answer says which pod, on which node,
// served it and which client address it saw (so learners can see load balancing,
// session affinity and whether the source address was masqueraded).
import { startEcho } from '../../runner/workloads/echo.ts';

startEcho({
  ports: (process.env.PORTS ?? '8080').split(',').map((p) => Number(p.trim())),
  pod: process.env.POD_NAME ?? process.env.HOSTNAME ?? 'unknown',
  podIP: process.env.POD_IP ?? '',
  node: process.env.NODE_NAME ?? '',
  namespace: process.env.POD_NAMESPACE ?? '',
});
