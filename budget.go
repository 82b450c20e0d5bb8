package main

import (
	"fmt"
	"strconv"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/budgets"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// budgetAlerts are the AWS Budgets notifications of the optional budget:
// a warning, the limit reached, and the limit about to be reached this month.
var budgetAlerts = []struct {
	Type      string // ACTUAL or FORECASTED
	Threshold float64
}{{"ACTUAL", 80}, {"ACTUAL", 100}, {"FORECASTED", 100}}

// createBudget declares a monthly cost budget filtered to this lab's stack
// tag, when monthlyBudgetUsd is set. Budgets filter by a tag only once it is
// activated as a cost allocation tag (README).
func createBudget(ctx *pulumi.Context, c *labConfig) (*budgets.Budget, error) {
	if c.MonthlyBudgetUSD == 0 {
		return nil, nil
	}
	var notes budgets.BudgetNotificationArray
	for _, a := range budgetAlerts {
		notes = append(notes, budgets.BudgetNotificationArgs{
			NotificationType:         pulumi.String(a.Type),
			ComparisonOperator:       pulumi.String("GREATER_THAN"),
			Threshold:                pulumi.Float64(a.Threshold),
			ThresholdType:            pulumi.String("PERCENTAGE"),
			SubscriberEmailAddresses: pulumi.StringArray{pulumi.String(c.BudgetEmail)},
		})
	}
	name, alias := c.logical("Budget")
	b, err := budgets.NewBudget(ctx, name, &budgets.BudgetArgs{
		BudgetType:  pulumi.String("COST"),
		TimeUnit:    pulumi.String("MONTHLY"),
		LimitAmount: pulumi.String(strconv.FormatFloat(c.MonthlyBudgetUSD, 'f', 2, 64)),
		LimitUnit:   pulumi.String("USD"),
		CostFilters: budgets.BudgetCostFilterArray{budgets.BudgetCostFilterArgs{
			Name:   pulumi.String("TagKeyValue"),
			Values: pulumi.StringArray{pulumi.String("user:" + labTag + "$" + c.labID())},
		}},
		Notifications: notes,
		Tags:          c.tags("Budget"),
	}, alias)
	if err != nil {
		return nil, fmt.Errorf("declaring the budget: %w", err)
	}
	return b, nil
}
