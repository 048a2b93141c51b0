@autoscaling
Feature: Finch autoscaling
  The backend scales between 3 and 10 replicas on 70% CPU and 80% memory; the frontend scales on
  70% CPU; a VPA adjusts the backend's requests automatically.

  Background:
    Given the system "finch"

  @offline @declared @critical
  Scenario: The backend autoscaler keeps 3 to 10 replicas on 70% CPU and 80% memory
    Source: Kubernetes Architecture Documentation (Finch) § Scaling Strategies › Horizontal Pod Autoscaler (HPA)
    Then the HorizontalPodAutoscaler "finch-production/finch-backend-hpa" scales the Deployment "finch-production/finch-backend"
    And the HorizontalPodAutoscaler "finch-production/finch-backend-hpa" declares:
      | field            | value |
      | spec.minReplicas | 3     |
      | spec.maxReplicas | 10    |
    And the HorizontalPodAutoscaler "finch-production/finch-backend-hpa" targets 70% average cpu utilization
    And the HorizontalPodAutoscaler "finch-production/finch-backend-hpa" targets 80% average memory utilization

  @offline @declared @normal
  Scenario: The frontend autoscales on 70% CPU
    Source: Kubernetes Architecture Documentation (Finch) § Component Specifications › Frontend Deployment (Vue.js)
    Then the HorizontalPodAutoscaler "finch-production/finch-frontend-hpa" scales the Deployment "finch-production/finch-frontend"
    And the HorizontalPodAutoscaler "finch-production/finch-frontend-hpa" targets 70% average cpu utilization

  @offline @modeled @normal
  Scenario: Under sustained load the backend can go from 3 to 10 replicas
    Source: Kubernetes Architecture Documentation (Finch) § Scaling Strategies › Horizontal Pod Autoscaler (HPA)
    Then the HorizontalPodAutoscaler "finch-production/finch-backend-hpa" can scale from 3 to 10 under sustained load

  @live @observed @load @serial @critical @slow
  Scenario: The backend reaches 10 ready replicas under load on a live cluster
    Source: Kubernetes Architecture Documentation (Finch) § Scaling Strategies › Horizontal Pod Autoscaler (HPA)
    Given the system is deployed
    When 100 users load the Service "finch-production/finch-backend"
    Then the Deployment "finch-production/finch-backend" reaches 10 ready replicas

  @offline @declared @normal
  Scenario: A VPA adjusts the backend's requests automatically
    Source: Kubernetes Architecture Documentation (Finch) § Scaling Strategies › Vertical Pod Autoscaler (VPA)
    Given the system "finch" with its custom resources
    Then the VerticalPodAutoscaler "finch-production/finch-backend-vpa" declares:
      | field                   | value         |
      | spec.targetRef.kind     | Deployment    |
      | spec.targetRef.name     | finch-backend |
      | spec.updatePolicy.updateMode | Auto     |

  @offline @declared @critical @known_gap @gap:finch-vpa-and-hpa-fight
  Scenario: The backend's horizontal and vertical autoscalers work together
    Source: Kubernetes Architecture Documentation (Finch) § Scaling Strategies › Vertical Pod Autoscaler (VPA)
    Given the system "finch" with its custom resources
    Then the autoscalers of the Deployment "finch-production/finch-backend" do not conflict
