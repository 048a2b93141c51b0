@isolation
Feature: Finch network isolation
  Everything is denied by default; only the needed connections are allowed; the backend accepts
  the frontend; other namespaces are kept out.

  Background:
    Given the system "finch"

  @offline @declared @critical
  Scenario: Production denies all ingress and egress by default
    Source: Kubernetes Architecture Documentation (Finch) § Network Policies › Security Isolation
    Then the namespace "finch-production" denies all ingress traffic by default
    And the namespace "finch-production" denies all egress traffic by default

  @offline @declared @normal
  Scenario: The frontend-to-backend policy selects the backend pods and admits the frontend pods
    Source: Kubernetes Architecture Documentation (Finch) § Network Policies › Ingress Rules
    Then the NetworkPolicy "finch-production/frontend-to-backend" selects the pods of the Deployment "finch-production/finch-backend"
    And the NetworkPolicy "finch-production/frontend-to-backend" declares spec.ingress[0].from[0].podSelector.matchLabels.app = finch-frontend

  @offline @modeled @critical
  Scenario: The connections the architecture draws are allowed
    Source: Kubernetes Architecture Documentation (Finch) § Architecture Diagram
    Then "finch-production/finch-frontend" can reach "finch-production/finch-backend" on TCP 8000
    And "ingress-nginx/ingress-nginx-controller" can reach "finch-production/finch-frontend" on TCP 8080
    And "ingress-nginx/ingress-nginx-controller" can reach "finch-production/finch-backend" on TCP 8000
    And "finch-production/finch-backend" can reach "finch-production/postgres" on TCP 5432
    And "finch-production/finch-backend" can reach "finch-production/redis" on TCP 6379
    And "finch-production/finch-celery-worker" can reach "finch-production/redis" on TCP 6379
    And "finch-production/finch-celery-beat" can reach "finch-production/redis" on TCP 6379
    And "finch-monitoring/prometheus" can reach "finch-production/finch-backend" on TCP 8000

  @offline @modeled @critical
  Scenario: PostgreSQL accepts connections only from the backend and the backup job
    Source: Kubernetes Architecture Documentation (Finch) § Network Policies › Security Isolation
    Then "finch-production/postgres" accepts TCP 5432 only from:
      | source                           |
      | finch-production/finch-backend   |
      | finch-production/postgres-backup |

  @offline @modeled @critical
  Scenario: Staging cannot reach production
    Source: Kubernetes Architecture Documentation (Finch) § Network Policies › Security Isolation
    Then "finch-staging/finch-backend" cannot reach "finch-production/postgres" on TCP 5432
    And "finch-staging/finch-frontend" cannot reach "finch-production/finch-backend" on TCP 8000

  @offline @modeled @normal
  Scenario: The application pods can resolve cluster DNS
    Source: Kubernetes Architecture Documentation (Finch) § Troubleshooting Guide › Common Issues › Service Discovery Issues
    Then "finch-production/finch-backend" can resolve cluster DNS
    And "finch-production/finch-celery-worker" can resolve cluster DNS

  @live @observed @critical
  Scenario: The cluster enforces the modeled reachability into PostgreSQL
    Source: Kubernetes Architecture Documentation (Finch) § Network Policies › Security Isolation
    Given the system is deployed
    When every workload probes "finch-production/postgres" on TCP 5432
    Then the observed reachability equals the modeled reachability
