@isolation
Feature: TByte network isolation
  Every policy starts from deny-all; the application pods accept 80 and 443 from the ingress
  layer and 8080 and 9090 from monitoring, and may send DNS, HTTPS and database traffic only.

  Background:
    Given the system "tbyte"

  @offline @declared @critical
  Scenario: The application namespace denies all ingress and egress by default
    Source: Kubernetes Architecture - TByte Microservices Platform § Security Compliance › Network Security
    Then the namespace "tbyte" denies all ingress traffic by default
    And the namespace "tbyte" denies all egress traffic by default

  @offline @modeled @critical
  Scenario Outline: The frontend accepts TCP <port> only from the ingress layer
    Source: Kubernetes Architecture - TByte Microservices Platform § Pod Security & Resource Management
    Then "tbyte/frontend" accepts TCP <port> only from:
      | source        |
      | ingress-nginx |

    Examples:
      | port |
      | 80   |
      | 443  |

  @offline @modeled @critical
  Scenario Outline: The backend accepts TCP <port> only from monitoring
    Source: Kubernetes Architecture - TByte Microservices Platform § Pod Security & Resource Management
    Then "tbyte/backend" accepts TCP <port> only from:
      | source     |
      | monitoring |

    Examples:
      | port |
      | 8080 |
      | 9090 |

  @offline @modeled @normal
  Scenario: Application pods can resolve cluster DNS
    Source: Kubernetes Architecture - TByte Microservices Platform § Pod Security & Resource Management
    Then "tbyte/frontend" can resolve cluster DNS
    And "tbyte/backend" can resolve cluster DNS

  @offline @modeled @normal
  Scenario: Traffic the policies do not list is denied
    Source: Kubernetes Architecture - TByte Microservices Platform § Security Compliance › Network Security
    Then "logging/loki" cannot reach "tbyte/backend" on TCP 80
    And "argocd/argocd-server" cannot reach "tbyte/frontend" on TCP 8080
    And "tbyte/frontend" cannot reach "monitoring/prometheus" on TCP 9090

  @offline @modeled @critical @known_gap @gap:tbyte-frontend-cannot-reach-backend
  Scenario: The frontend pods can call the backend Service as the traffic flow shows
    Source: Kubernetes Architecture - TByte Microservices Platform § Application Architecture
    Then "tbyte/frontend" can reach "tbyte/backend" on TCP 80

  @offline @modeled @critical @known_gap @gap:tbyte-database-ingress-not-allowed
  Scenario: The backend can reach the in-cluster PostgreSQL on 5432
    Source: Kubernetes Architecture - TByte Microservices Platform § Pod Security & Resource Management
    Then "tbyte/backend" can reach "tbyte/postgres" on TCP 5432

  @live @observed @critical
  Scenario: The cluster enforces the modeled reachability between all workloads on port 80
    Source: Kubernetes Architecture - TByte Microservices Platform § Security Compliance › Network Security
    Given the system is deployed
    When every workload probes every other workload on TCP 80
    Then the observed reachability equals the modeled reachability
