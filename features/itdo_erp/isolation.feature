@isolation
Feature: ITDO ERP tiered network policy
  The backend accepts TCP 8000 only from the gateway tier and may talk only to the data tier on
  5432 and 6379.

  Background:
    Given the system "itdo_erp"

  @offline @declared @normal
  Scenario: The backend policy selects the backend tier and restricts both directions
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Security Architecture › Network Policies
    Then the NetworkPolicy "itdo-erp-prod/backend-network-policy" selects the pods of the Deployment "itdo-erp-prod/backend-api"
    And the NetworkPolicy "itdo-erp-prod/backend-network-policy" declares spec.policyTypes = [Ingress, Egress]

  @offline @modeled @critical
  Scenario: The backend accepts TCP 8000 only from the gateway tier
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Security Architecture › Network Policies
    Then "itdo-erp-prod/backend-api" accepts TCP 8000 only from:
      | source                    |
      | itdo-erp-prod/api-gateway |

  @offline @modeled @critical
  Scenario: The backend reaches PostgreSQL and Redis and nothing else
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Security Architecture › Network Policies
    Then "itdo-erp-prod/backend-api" can reach "itdo-erp-prod/postgres-cluster" on TCP 5432
    And "itdo-erp-prod/backend-api" can reach "itdo-erp-prod/redis-cluster" on TCP 6379
    And "itdo-erp-prod/backend-api" cannot reach "itdo-erp-prod/frontend-app" on TCP 3000
    And "itdo-erp-prod/backend-api" cannot reach "itdo-erp-monitoring/prometheus" on TCP 9090

  @offline @modeled @critical @known_gap @gap:itdo-backend-egress-blocks-dns
  Scenario: The backend can resolve the database and cache host names
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Security Architecture › Network Policies
    Then "itdo-erp-prod/backend-api" can resolve cluster DNS

  @live @observed @critical
  Scenario: The cluster enforces the modeled reachability into the backend
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Security Architecture › Network Policies
    Given the system is deployed
    When every workload probes "itdo-erp-prod/backend-api" on TCP 8000
    Then the observed reachability equals the modeled reachability

  @live @observed @normal
  Scenario: Service names resolve within 1 second
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Success Metrics › Performance Targets
    Given the system is deployed
    Then "itdo-erp-prod/api-gateway" resolves the Service "itdo-erp-prod/backend-api" within 1s
