@observability
Feature: ITDO ERP backend metrics
  Prometheus scrapes the backend's metrics port every 30 s at /metrics.

  Background:
    Given the system "itdo_erp"

  @offline @declared @normal
  Scenario: The backend ServiceMonitor scrapes the metrics port every 30 seconds
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Monitoring Integration › Service Monitor
    Given the system "itdo_erp" with its custom resources
    Then the ServiceMonitor "itdo-erp-prod/backend-metrics" declares:
      | field                         | value       |
      | spec.selector.matchLabels.app | backend-api |
      | spec.endpoints[0].port        | metrics     |
      | spec.endpoints[0].interval    | 30s         |
      | spec.endpoints[0].path        | /metrics    |

  @offline @declared @normal @known_gap @gap:itdo-backend-metrics-not-scrapable
  Scenario: Prometheus can scrape the backend
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Monitoring Integration › Service Monitor
    Then the Service "itdo-erp-prod/backend-api" sets spec.ports[name=metrics].port
    And "itdo-erp-monitoring/prometheus" can reach "itdo-erp-prod/backend-api" on TCP 8000
